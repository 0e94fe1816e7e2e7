// decide() alone, as the library runs it: the policy compiled into an image, the
// process's rules found once (image::ProcessPolicy), then decide() for every bind. Each case checks, before it is registered, that the
// request gets the decision the case is named after (which rule, or none).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <benchmark/benchmark.h>

#include "bench.hpp"
#include "bindguard/compile.hpp"
#include "bindguard/image_view.hpp"
#include "bindguard/policy.hpp"

namespace bgbench {
namespace {

using bindguard::Decision;
using bindguard::Endpoint;
using bindguard::Policy;
using bindguard::Protocol;
using bindguard::Request;

// The process the policy is prepared for, as the shim would see it.
struct ProcessIdentity {
    std::string program;
    std::string command;
    std::string service;
};

// A full policy, made the first time a case that uses it runs: a run of the binary for
// other cases does not pay for parsing thousands of rules.
using PolicySource = std::function<const Policy&()>;

PolicySource ready(Policy policy) {
    auto made = std::make_shared<const Policy>(std::move(policy));
    return [made]() -> const Policy& { return *made; };
}

PolicySource on_first_use(std::function<Policy()> make) {
    auto made = std::make_shared<std::optional<Policy>>();
    return [made, make]() -> const Policy& {
        if (!*made) *made = make();
        return **made;
    };
}

// One benchmark: where its policy comes from, the policy prepared for the process, the
// request, and the identity the request's string views point into (so it lives as long
// as the benchmark). Prepared when the case first runs.
struct DecideCase {
    std::string name;
    PolicySource full_policy;
    std::string expected_rule;
    bool prepared = false;
    std::string label;
    ProcessIdentity identity;
    std::vector<unsigned char> image;  // the compiled policy (a vector's bytes are 8-aligned)
    bindguard::image::ProcessPolicy process;
    Request request;
};

[[noreturn]] void die(const std::string& message) {
    std::fprintf(stderr, "bindguard-bench: %s\n", message.c_str());
    std::exit(2);
}

Endpoint endpoint(const std::string& text) {
    const auto parsed = bindguard::parse_endpoint(text);
    if (!parsed) die("bad endpoint in the harness: " + text);
    return *parsed;
}

// Parses text or ends the process with the diagnostics (the harness generated it).
Policy parse_or_die(const std::string& text, const std::string& name) {
    auto result = bindguard::parse_policy(text, name);
    if (!result.ok()) {
        std::string message = "policy " + name + " does not parse:";
        for (const auto& diagnostic : result.diagnostics) message += "\n  " + diagnostic.to_string();
        die(message);
    }
    return std::move(*result.policy);
}

// Prepares c: its full policy compiled and read for the process, as the library does;
// then checks that the image and decide() agree and that its request is decided
// by its expected rule (any rule when expected_rule is empty: a policy file of the
// project that may change). The rule that decides is the case's label.
void prepare(DecideCase& c) {
    const Policy& policy = c.full_policy();
    c.image = bindguard::image::compile(policy, {});
    bindguard::image::PolicyImage view;
    if (bindguard::image::PolicyImage::check(c.image.data(), c.image.size(), true, view) !=
        bindguard::image::Problem::none)
        die(c.name + ": the compiled image does not check");
    c.process = bindguard::image::ProcessPolicy(view, c.identity.program.c_str(), c.identity.command.c_str(),
                                                c.identity.service.c_str());
    c.request.program = c.identity.program;
    c.request.command = c.identity.command;
    c.request.service = c.identity.service;
    const Decision check = c.process.decide(c.request);
    if (std::strcmp(check.rule, bindguard::decide(policy, c.request).rule) != 0)
        die(c.name + ": the image and decide() disagree");
    if (!c.expected_rule.empty() && c.expected_rule != check.rule)
        die(c.name + ": expected rule " + c.expected_rule + ", decide() answered " + check.rule);
    c.label = std::string(bindguard::to_string(check.action)) + " rule=" + check.rule +
              " rules=" + std::to_string(policy.rules.size());
    c.prepared = true;
}

// Registers decide(policy prepared for identity, request) under name.
void register_case(const std::string& name, PolicySource full_policy, ProcessIdentity identity,
                   const Endpoint& address, Protocol protocol, bool v6only, const std::string& expected_rule) {
    auto shared = std::make_shared<DecideCase>();
    shared->name = name;
    shared->full_policy = std::move(full_policy);
    shared->expected_rule = expected_rule;
    shared->identity = std::move(identity);
    shared->request.address = address;
    shared->request.protocol = protocol;
    shared->request.v6only = v6only;

    benchmark::RegisterBenchmark(name.c_str(), [shared](benchmark::State& state) {
        if (!shared->prepared) prepare(*shared);
        state.SetLabel(shared->label);
        const bindguard::image::ProcessPolicy& process = shared->process;
        const Request& request = shared->request;
        for (auto _ : state) {
            Decision decision = process.decide(request);
            benchmark::DoNotOptimize(decision);
        }
    });
}

// The address families of the generated cases: IPv4 requests and IPv6 requests each
// against rules of their own family, v4-mapped IPv6 requests against the IPv4 rules.
enum class Family { ipv4, ipv6, v4_mapped };

// The CIDR of generated rule i: its own 10.x.y.0/24 or 2001:db8:x:y::/64.
std::string cidr_of_rule(Family family, int i) {
    const std::string x = std::to_string(i / 256), y = std::to_string(i % 256);
    return family == Family::ipv6 ? "2001:db8:" + x + ":" + y + "::/64" : "10." + x + "." + y + ".0/24";
}

// N rules, each allowing TCP on ports 8000-8999 of its own CIDR, so that no rule covers
// another and a request can be aimed at exactly one of them. No rule has a
// program/command/service filter: for_process() keeps all N (the worst case). Written
// without optional spaces, so that 10,000 rules stay within the 1 MiB a policy file may
// have (the start-up cases read them from a file).
std::string generated_policy_text(Family family, int rules) {
    std::string text = "version = 1\n\n[log]\nto = \"none\"\n";
    for (int i = 0; i < rules; ++i) {
        text += "[[rule]]\nname=\"rule-" + std::to_string(i) + "\"\naction=\"allow\"\n";
        text += "address=[\"" + cidr_of_rule(family, i) + "\"]\n";
        text += "port=[\"8000-8999\"]\nprotocol=\"tcp\"\n";
    }
    return text;
}

// An address inside rule i of generated_policy_text(), in the request's family.
Endpoint address_of_rule(Family family, int i) {
    const std::string x = std::to_string(i / 256), y = std::to_string(i % 256);
    switch (family) {
        case Family::ipv4: return endpoint("10." + x + "." + y + ".7:8080");
        case Family::ipv6: return endpoint("[2001:db8:" + x + ":" + y + "::7]:8080");
        case Family::v4_mapped: return endpoint("[::ffff:10." + x + "." + y + ".7]:8080");
    }
    return {};
}

// An address no generated rule covers, in the request's family.
Endpoint address_of_no_rule(Family family) {
    switch (family) {
        case Family::ipv4: return endpoint("192.168.1.10:8080");
        case Family::ipv6: return endpoint("[2001:db9::10]:8080");
        case Family::v4_mapped: return endpoint("[::ffff:192.168.1.10]:8080");
    }
    return {};
}

// What examples/doable/policy.toml says (the seeds' table), used when the file is missing
// or does not parse, so that the benchmark still runs; its name then says "equivalent".
constexpr const char* kDoableEquivalent = R"(version = 1
mode = "enforce"
[loopback]
ipv4 = "127.0.0.1"
ipv6 = "::1"
dual_stack = "ipv4"
[default]
action = "rewrite"
udp_ephemeral = "allow"
[log]
to = "stderr"
[[rule]]
name = "reverse-proxy-nginx"
action = "allow"
program = "/usr/sbin/nginx"
port = [80, 443]
protocol = "tcp"
[[rule]]
name = "reverse-proxy-nginx-http3"
action = "allow"
program = "/usr/sbin/nginx"
port = [443]
protocol = "udp"
[[rule]]
name = "reverse-proxy-caddy"
action = "allow"
program = "/usr/bin/caddy"
port = [80, 443]
protocol = "tcp"
[[rule]]
name = "reverse-proxy-caddy-http3"
action = "allow"
program = "/usr/bin/caddy"
port = [443]
protocol = "udp"
)";

void register_builtin_cases() {
    const PolicySource builtin = ready(bindguard::builtin_policy());
    const ProcessIdentity node{"/usr/bin/node", "node server.mjs", ""};
    register_case("decide/builtin/wildcard-rewrite", builtin, node, endpoint("0.0.0.0:3000"), Protocol::tcp,
                  false, "default");
    register_case("decide/builtin/loopback-allow", builtin, node, endpoint("127.0.0.1:3000"), Protocol::tcp,
                  false, "loopback");
}

void register_doable_cases() {
    const std::string path = std::string(BINDGUARD_SOURCE_DIR) + "/examples/doable/policy.toml";
    auto loaded = bindguard::load_policy_file(path);
    std::string name = "decide/doable";
    Policy policy;
    if (loaded.ok()) {
        policy = std::move(*loaded.policy);
    } else {
        std::fprintf(stderr, "bindguard-bench: %s unusable (%s); using the built-in equivalent\n", path.c_str(),
                     loaded.diagnostics.empty() ? "?" : loaded.diagnostics.front().to_string().c_str());
        policy = parse_or_die(kDoableEquivalent, "<doable-equivalent>");
        name = "decide/doable-equivalent";
    }
    const PolicySource doable = ready(std::move(policy));
    // The ws service as Node starts it: '::' on a dual-stack socket, port 4001 (the seeds'
    // table: brought back to loopback). The file decides which rule says so.
    register_case(name + "/ws-dualstack", doable, {"/usr/bin/node", "node ws/server.mjs", "ws"},
                  endpoint("[::]:4001"), Protocol::tcp, false, "");
    // The reverse proxy: nginx on 0.0.0.0:443 (the seeds' table: allowed).
    register_case(name + "/nginx-443", doable, {"/usr/sbin/nginx", "nginx -g daemon off;", ""},
                  endpoint("0.0.0.0:443"), Protocol::tcp, false, "");
}

void register_generated_cases() {
    const std::pair<Family, const char*> families[] = {
        {Family::ipv4, "ipv4"}, {Family::ipv6, "ipv6"}, {Family::v4_mapped, "v4-mapped"}};
    for (const int rules : {1, 10, 100, 1000, 10000}) {
        for (const auto& [family, family_name] : families) {
            const std::string label = "decide/rules-" + std::to_string(rules) + "/" + family_name;
            const Family rule_family = family == Family::ipv6 ? Family::ipv6 : Family::ipv4;
            const PolicySource policy = on_first_use([rule_family, rules, label] {
                return parse_or_die(generated_policy_text(rule_family, rules), "<generated " + label + ">");
            });
            const ProcessIdentity node{"/usr/bin/node", "node server.mjs", ""};
            register_case(label + "/match-first", policy, node, address_of_rule(family, 0), Protocol::tcp, false,
                          "rule-0");
            register_case(label + "/match-last", policy, node, address_of_rule(family, rules - 1), Protocol::tcp,
                          false, "rule-" + std::to_string(rules - 1));
            register_case(label + "/match-none", policy, node, address_of_no_rule(family), Protocol::tcp, false,
                          "default");
        }
    }
}

// N rules, rule i allowing TCP on its own address 10.x.y.9 and its own port 20000 + i:
// the index's table would have (2N+1)^2 cells, so it is built as segment trees.
std::string distinct_policy_text(int rules) {
    std::string text = "version = 1\n\n[log]\nto = \"none\"\n";
    for (int i = 0; i < rules; ++i) {
        text += "\n[[rule]]\nname = \"rule-" + std::to_string(i) + "\"\naction = \"allow\"\n";
        text += "address = [\"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".9\"]\n";
        text += "port = [" + std::to_string(20000 + i) + "]\nprotocol = \"tcp\"\n";
    }
    return text;
}

void register_distinct_cases() {
    for (const int rules : {1000, 10000}) {
        const std::string label = "decide/distinct-" + std::to_string(rules);
        const PolicySource policy = on_first_use([rules, label] {
            return parse_or_die(distinct_policy_text(rules), "<generated " + label + ">");
        });
        const ProcessIdentity node{"/usr/bin/node", "node server.mjs", ""};
        const int last = rules - 1;
        register_case(label + "/match-last", policy, node,
                      endpoint("10." + std::to_string(last / 256) + "." + std::to_string(last % 256) +
                               ".9:" + std::to_string(20000 + last)),
                      Protocol::tcp, false, "rule-" + std::to_string(last));
        register_case(label + "/match-none", policy, node, endpoint("10.0.0.9:20001"), Protocol::tcp, false,
                      "default");
    }
}

// What `bindguard compile` does with a policy's text: parse it, build the index, write
// the image bytes (not the file). One iteration is one whole compile.
void register_compile_cases() {
    const std::pair<const char*, std::string (*)(int)> kinds[] = {
        {"same-ports", [](int rules) { return generated_policy_text(Family::ipv4, rules); }},
        {"distinct", distinct_policy_text}};
    for (const auto& [kind, make] : kinds)
        for (const int rules : {1000, 10000}) {
            const std::string name = std::string("compile/") + kind + "-" + std::to_string(rules);
            const std::string text = make(rules);
            benchmark::RegisterBenchmark(name.c_str(), [text, name](benchmark::State& state) {
                std::size_t bytes = 0;
                for (auto _ : state) {
                    const Policy policy = parse_or_die(text, name);
                    const std::vector<unsigned char> image = bindguard::image::compile(policy, {});
                    bytes = image.size();
                    benchmark::DoNotOptimize(image.data());
                }
                state.SetLabel("image " + std::to_string(bytes) + " bytes");
            })->Unit(benchmark::kMillisecond);
        }
}

}  // namespace

std::string generated_policy(int rules) { return generated_policy_text(Family::ipv4, rules); }

void register_decide_benchmarks() {
    register_builtin_cases();
    register_doable_cases();
    register_generated_cases();
    register_distinct_cases();
    register_compile_cases();
}

}  // namespace bgbench
