// decide() alone, on a policy prepared the way the shim prepares it: for_process() once,
// then decide() for every bind. Each case checks, before it is registered, that the
// request gets the decision the case is named after (which rule, or none).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "bench.hpp"
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

// One benchmark: the prepared policy, the request, and the identity the request's
// string views point into (so it lives as long as the benchmark).
struct DecideCase {
    ProcessIdentity identity;
    Policy policy;
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

// Registers decide(policy prepared for identity, request) under name, after checking
// that it is decided by expected_rule (any rule when expected_rule is empty: a policy
// file of the project that may change). The rule that decides is the case's label.
void register_case(const std::string& name, const Policy& full_policy, ProcessIdentity identity,
                   const Endpoint& address, Protocol protocol, bool v6only, const std::string& expected_rule) {
    auto shared = std::make_shared<DecideCase>();
    shared->identity = std::move(identity);
    shared->policy = bindguard::for_process(full_policy, shared->identity.program, shared->identity.command,
                                            shared->identity.service);
    shared->request.address = address;
    shared->request.protocol = protocol;
    shared->request.v6only = v6only;
    shared->request.program = shared->identity.program;
    shared->request.command = shared->identity.command;
    shared->request.service = shared->identity.service;

    const Decision check = bindguard::decide(shared->policy, shared->request);
    if (!expected_rule.empty() && expected_rule != check.rule)
        die(name + ": expected rule " + expected_rule + ", decide() answered " + check.rule);
    const std::string label = std::string(bindguard::to_string(check.action)) + " rule=" + check.rule + " rules=" +
                              std::to_string(shared->policy.rules.size());

    benchmark::RegisterBenchmark(name.c_str(), [shared, label](benchmark::State& state) {
        state.SetLabel(label);
        const Policy& policy = shared->policy;
        const Request& request = shared->request;
        for (auto _ : state) {
            Decision decision = bindguard::decide(policy, request);
            benchmark::DoNotOptimize(decision);
        }
    });
}

// N rules, each allowing TCP on ports 8000-8999 of its own 10.x.y.0/24, so that no rule
// covers another and a request can be aimed at exactly one of them. No rule has a
// program/command/service filter: for_process() keeps all N (the worst case).
std::string generated_policy_text(int rules) {
    std::string text = "version = 1\n\n[log]\nto = \"none\"\n";
    for (int i = 0; i < rules; ++i) {
        text += "\n[[rule]]\nname = \"rule-" + std::to_string(i) + "\"\naction = \"allow\"\n";
        text += "address = [\"10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\"]\n";
        text += "port = [\"8000-8999\"]\nprotocol = \"tcp\"\n";
    }
    return text;
}

// An address inside rule i of generated_policy_text().
Endpoint address_of_rule(int i) {
    return endpoint("10." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ".7:8080");
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
    const Policy builtin = bindguard::builtin_policy();
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
    // The ws service as Node starts it: '::' on a dual-stack socket, port 4001 (the seeds'
    // table: brought back to loopback). The file decides which rule says so.
    register_case(name + "/ws-dualstack", policy, {"/usr/bin/node", "node ws/server.mjs", "ws"},
                  endpoint("[::]:4001"), Protocol::tcp, false, "");
    // The reverse proxy: nginx on 0.0.0.0:443 (the seeds' table: allowed).
    register_case(name + "/nginx-443", policy, {"/usr/sbin/nginx", "nginx -g daemon off;", ""},
                  endpoint("0.0.0.0:443"), Protocol::tcp, false, "");
}

void register_generated_cases() {
    for (const int rules : {10, 100, 1000}) {
        const std::string label = "decide/rules-" + std::to_string(rules);
        const Policy policy = parse_or_die(generated_policy_text(rules), "<generated " + label + ">");
        const ProcessIdentity node{"/usr/bin/node", "node server.mjs", ""};
        register_case(label + "/match-first", policy, node, address_of_rule(0), Protocol::tcp, false, "rule-0");
        register_case(label + "/match-last", policy, node, address_of_rule(rules - 1), Protocol::tcp, false,
                      "rule-" + std::to_string(rules - 1));
        register_case(label + "/match-none", policy, node, endpoint("192.168.1.10:8080"), Protocol::tcp, false,
                      "default");
    }
}

}  // namespace

void register_decide_benchmarks() {
    register_builtin_cases();
    register_doable_cases();
    register_generated_cases();
}

}  // namespace bgbench
