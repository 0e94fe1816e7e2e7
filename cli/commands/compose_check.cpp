// `bindguard compose-check [--policy FILE] [--json] [FILE...]`: every port a Compose file
// publishes on the host, judged before `docker compose up` - Docker publishes from its own
// daemon (or with packet rules and no socket at all), where the library never runs.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "compose_judge.hpp"
#include "compose_file.hpp"
#include "policy_source.hpp"

namespace bindguard::cli {
namespace {

using namespace compose;

struct ComposeCheckOptions {
    std::string policy;
    bool json = false;
    std::vector<std::string> files;
};

// The names Compose looks for in the current directory, in its order of preference
// (the Compose specification: compose.yaml is the canonical one), and the override file
// it merges on top when there is one.
const std::vector<std::string> kDefaultFiles = {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"};
const std::vector<std::string> kOverrideFiles = {"compose.override.yaml", "compose.override.yml",
                                                 "docker-compose.override.yaml", "docker-compose.override.yml"};

constexpr const char* kStdinName = "<stdin>";

// What the check says about one mapping (or one network_mode: host).
struct Judgement {
    std::string verdict;  // ok | allowed | exposed | unknown | host-network
    std::string rule;     // allowed/exposed: the rule of the policy that decided
    std::string reason;   // why it is reported ("" when it is not)
    std::string fix;      // what to write instead ("" when it is not reported)

    bool reported() const { return verdict != "ok" && verdict != "allowed"; }
};

struct Checked {
    Position position;
    std::string service;
    std::string syntax;   // short | long | network_mode
    std::string mapping;  // as written
    const PortSpec* spec = nullptr;  // null for network_mode
    Judgement judgement;
};

// True when anything is at path (stat(2) succeeds).
bool exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

// FILE... as given, or the default file (and its override) of the current directory.
// Returns the files; throws UsageError when none is there.
std::vector<std::string> files_to_check(const std::vector<std::string>& given) {
    if (!given.empty()) return given;
    std::vector<std::string> files;
    for (const std::vector<std::string>* names : {&kDefaultFiles, &kOverrideFiles}) {
        std::vector<std::string> found;
        for (const std::string& name : *names)
            if (exists(name)) found.push_back(name);
        if (found.size() > 1) {
            std::cerr << "bindguard compose-check: warning: found";
            for (const std::string& name : found) std::cerr << ' ' << name;
            std::cerr << "; checking " << found.front() << ", the one Compose uses\n";
        }
        if (!found.empty()) files.push_back(found.front());
        else if (names == &kDefaultFiles) break;
    }
    if (files.empty()) {
        std::string names_text;
        for (const std::string& name : kDefaultFiles) names_text += (names_text.empty() ? "" : ", ") + name;
        throw UsageError("no Compose file in the current directory (looked for " + names_text + "); name one, or - for standard input");
    }
    return files;
}

// Reads all of fd. Returns the text, or nullopt with errno set.
std::optional<std::string> read_all(int fd) {
    std::string text;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) return text;
        text.append(buffer, static_cast<std::size_t>(n));
    }
}

// Reads a Compose file ("-": standard input) into text. Returns true, or false with error
// set to "cannot read: REASON".
bool read_text(const std::string& file, std::string& text, std::string& error) {
    auto fail = [&](const std::string& why) {
        error = "cannot read: " + why;
        return false;
    };
    if (file == "-") {
        auto read = read_all(STDIN_FILENO);
        if (!read) return fail(std::strerror(errno));
        text = std::move(*read);
        return true;
    }
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(std::strerror(errno));
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int saved = errno;
        ::close(fd);
        return fail(S_ISDIR(st.st_mode) ? "it is a directory" : S_ISREG(st.st_mode) ? std::strerror(saved) : "not a regular file");
    }
    auto read = read_all(fd);
    int saved = errno;
    ::close(fd);
    if (!read) return fail(std::strerror(saved));
    text = std::move(*read);
    return true;
}

// "tcp port 4000 on ", "udp ports 5000-5010 on ", "tcp container port 3000 on a random port of ",
// "tcp port ${PORT} on ": what a reason says is published, up to where. Returns the text.
std::string published_text(const PortSpec& spec) {
    std::string protocol = !spec.protocol ? spec.protocol_text
                           : spec.protocol == Protocol::other ? "sctp" : to_string(*spec.protocol);
    if (!spec.published && (spec.published_text.empty() || spec.published_text == "0"))
        return protocol + " container port " + spec.target_text + " on a random port of ";
    if (!spec.published) return protocol + " port " + spec.published_text + " on ";
    if (spec.published->first == spec.published->last) return protocol + " port " + std::to_string(spec.published->first) + " on ";
    return protocol + " ports " + std::to_string(spec.published->first) + "-" + std::to_string(spec.published->last) + " on ";
}

// The same mapping with a loopback host address, as it should be written. Returns it.
std::string fixed_mapping(const Checked& item) {
    const PortSpec& spec = *item.spec;
    bool v6 = spec.address_kind == AddressKind::literal && spec.family == AF_INET6;
    if (item.syntax == "long") return std::string("host_ip: ") + (v6 ? "\"::1\"" : "127.0.0.1");
    std::string text = std::string(v6 ? "[::1]" : "127.0.0.1") + ":" + spec.published_text + ":" + spec.target_text;
    if (!spec.protocol_text.empty()) text += "/" + spec.protocol_text;
    return text;
}

// Judges one mapping with the policy: loopback is ok; otherwise it is allowed only when
// decide() allows every host address, port and protocol it can publish on (a random or
// interpolated host port: every port 1-65535), with the service name as BINDGUARD_SERVICE.
// Returns the judgement.
Judgement judge(const Checked& item, const Policy& policy) {
    const PortSpec& spec = *item.spec;
    Judgement judgement;
    if (spec.address_kind == AddressKind::interpolated) {
        judgement.verdict = "unknown";
        judgement.reason = "takes its host address from a variable (\"" + spec.address +
                           "\"): unknown until compose runs, so it cannot be checked";
        judgement.fix = "write \"" + fixed_mapping(item) + "\"";
        return judgement;
    }
    std::vector<Protocol> protocols = spec.protocol ? std::vector<Protocol>{*spec.protocol}
                                                    : std::vector<Protocol>{Protocol::tcp, Protocol::udp};
    PortRange ports = spec.published.value_or(PortRange{1, 65535});
    PublishJudgement publish = judge_publish(policy, item.service, spec.address_kind == AddressKind::none ? "" : spec.address,
                                             protocols, ports);
    judgement.rule = publish.rule;
    if (publish.verdict == PublishJudgement::Verdict::ok) {
        judgement.verdict = "ok";
        return judgement;
    }
    if (publish.verdict == PublishJudgement::Verdict::allowed) {
        judgement.verdict = "allowed";
        return judgement;
    }
    judgement.verdict = "exposed";
    const std::string& where = publish.where;
    judgement.reason = "publishes " + published_text(spec) + where;
    judgement.fix = "write \"" + fixed_mapping(item) + "\"";
    return judgement;
}

// A service on the host's network is allowed only when the policy allows it to bind every
// port of 0.0.0.0 and :: for TCP and UDP (allowed_everything()). Returns the judgement.
Judgement judge_host_network(const HostNetwork& host, const Policy& policy) {
    Judgement judgement;
    if (!host.interpolated && allowed_everything(policy, host.service, judgement.rule)) {
        judgement.verdict = "allowed";
        return judgement;
    }
    judgement.verdict = host.interpolated ? "unknown" : "host-network";
    judgement.reason = host.interpolated
                           ? "takes network_mode from a variable (\"" + host.value + "\"): with \"host\" the container would share the host's network"
                           : "shares the host's network: whatever the container binds is on the host, and its ports are not checked";
    judgement.fix = "remove network_mode: host and publish each port the service needs as \"127.0.0.1:PORT:PORT\"";
    return judgement;
}

// One line for a reported item: "FILE:LINE:COL: service \"api\": \"4000:4000\" publishes ...;
// fix: write \"127.0.0.1:4000:4000\"". Returns it.
std::string report_line(const Checked& item) {
    std::string what = item.syntax == "short" ? "\"" + item.mapping + "\"" : item.syntax == "long" ? item.mapping : "network_mode: " + item.mapping;
    return item.position.to_string() + ": service \"" + item.service + "\": " + what + " " + item.judgement.reason +
           "; fix: " + item.judgement.fix;
}

nlohmann::ordered_json item_json(const Checked& item) {
    auto text_or_null = [](const std::string& text) { return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text); };
    nlohmann::ordered_json out = {
        {"file", item.position.file},
        {"line", item.position.line},
        {"column", item.position.column},
        {"service", item.service},
        {"syntax", item.syntax},
        {"mapping", item.mapping},
        {"host_address", nullptr},
        {"published", nullptr},
        {"target", nullptr},
        {"protocol", nullptr},
        {"verdict", item.judgement.verdict},
        {"reported", item.judgement.reported()},
        {"rule", text_or_null(item.judgement.rule)},
        {"reason", text_or_null(item.judgement.reason)},
        {"fix", text_or_null(item.judgement.fix)},
    };
    if (item.spec) {
        out["host_address"] = text_or_null(item.spec->address);
        out["published"] = text_or_null(item.spec->published_text);
        out["target"] = item.spec->target_text;
        out["protocol"] = item.spec->protocol_text.empty() ? "tcp" : item.spec->protocol_text;
    }
    return out;
}

// Checks every file. Returns 0 when nothing is reported, 1 when something is, 2 when a
// file cannot be read or is not valid YAML/Compose, or the policy is invalid.
int compose_check(const ComposeCheckOptions& options) {
    std::vector<std::string> files = files_to_check(options.files);
    auto [source, loaded] = load_and_report_policy(options.policy, std::cerr);
    if (!loaded.ok()) {
        std::cerr << "bindguard compose-check: the policy " << source.path << " (from " << source.named_by << ") is invalid\n";
        return kExitUsage;
    }
    const Policy& policy = *loaded.policy;

    nlohmann::ordered_json files_json = nlohmann::ordered_json::array();
    nlohmann::ordered_json items_json = nlohmann::ordered_json::array();
    nlohmann::ordered_json errors_json = nlohmann::ordered_json::array();
    nlohmann::ordered_json warnings_json = nlohmann::ordered_json::array();
    int reported = 0;
    bool failed = false;
    for (const std::string& file : files) {
        std::string name = file == "-" ? kStdinName : file;
        std::string text, error;
        if (!read_text(file, text, error)) {
            std::cerr << name << ": error: " << error << '\n';
            errors_json.push_back({{"file", name}, {"line", nullptr}, {"column", nullptr}, {"message", error}});
            failed = true;
            continue;
        }
        ComposeFile compose = read_compose(text, name);
        std::vector<std::string> seen;  // an anchor merged into several services reports its error once
        for (const FileError& error : compose.errors) {
            std::string line = error.to_string();
            if (std::find(seen.begin(), seen.end(), line) != seen.end()) continue;
            seen.push_back(line);
            std::cerr << line << '\n';
            errors_json.push_back({{"file", name}, {"line", error.position.line}, {"column", error.position.column}, {"message", error.message}});
        }
        failed = failed || !compose.errors.empty();
        for (const FileError& warning : compose.warnings) {
            std::cerr << warning.to_string("warning") << '\n';
            warnings_json.push_back({{"file", name}, {"line", warning.position.line}, {"column", warning.position.column}, {"message", warning.message}});
        }

        std::vector<Checked> items;
        for (const PortEntry& entry : compose.ports)
            items.push_back({entry.position, entry.service, entry.long_syntax ? "long" : "short", entry.text, &entry.spec, {}});
        for (const HostNetwork& host : compose.host_networks)
            items.push_back({host.position, host.service, "network_mode", host.value, nullptr, judge_host_network(host, policy)});
        std::stable_sort(items.begin(), items.end(), [](const Checked& a, const Checked& b) {
            return std::pair(a.position.line, a.position.column) < std::pair(b.position.line, b.position.column);
        });
        int file_reported = 0;
        for (Checked& item : items) {
            if (item.spec) item.judgement = judge(item, policy);
            if (item.judgement.reported()) {
                ++file_reported;
                if (!options.json) std::cout << report_line(item) << '\n';
            }
            items_json.push_back(item_json(item));
        }
        reported += file_reported;
        files_json.push_back({{"file", name}, {"services", compose.services}, {"valid", compose.errors.empty()}});
        if (options.json || !compose.errors.empty()) continue;
        std::string counts = std::to_string(compose.services.size()) + " services, " + std::to_string(compose.ports.size()) + " port mappings";
        if (file_reported == 0) std::cout << name << ": ok (" << counts << ")\n";
        else std::cout << name << ": " << file_reported << " reported (" << counts << ")\n";
    }
    if (options.json) {
        nlohmann::ordered_json document = {{"policy", policy.source}, {"files", files_json}, {"mappings", items_json},
                                           {"reported", reported}, {"errors", errors_json},
                                           {"warnings", warnings_json}};
        std::cout << document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    }
    if (failed) return kExitUsage;
    return reported > 0 ? kExitFailure : kExitOk;
}

}  // namespace

void add_compose_check_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<ComposeCheckOptions>();
    CLI::App* sub = app.add_subcommand(
        "compose-check",
        "Check the ports a Docker Compose file publishes on the host, before `docker compose up`.\n"
        "(Docker publishes them from its own daemon, where the library never runs).\n"
        "Reads every service's `ports` (short and long syntax) and `network_mode: host`, with\n"
        "anchors, aliases, merge keys and `extends` within the file resolved (other files named by\n"
        "`include` or `extends` get a warning: check them too). A mapping is fine when its host address is\n"
        "loopback (\"127.0.0.1:4000:4000\", \"[::1]:4000:4000\"), or when the policy allows it (the\n"
        "service name is the rule's `service`). Everything else is reported on stdout as\n"
        "  FILE:LINE:COL: service \"api\": \"4000:4000\" publishes tcp port 4000 on every host address\n"
        "  (0.0.0.0 and ::); fix: write \"127.0.0.1:4000:4000\"\n"
        "A host address from a variable (\"${BIND:-127.0.0.1}:80:80\") is reported as unknown.\n"
        "Without FILE: compose.yaml, compose.yml, docker-compose.yaml or docker-compose.yml of the\n"
        "current directory (the first found, as Compose does) and its compose.override.* file.\n"
        "FILE - reads standard input. Without --policy: the same lookup as the library.\n"
        "Exit 0 when nothing is reported, 1 when something is, 2 when a file cannot be read, is not\n"
        "valid YAML or Compose (FILE:LINE:COL: error: ...), the policy is invalid, or on a usage error.");
    sub->add_option("--policy", options->policy, "Policy whose allow rules may allow a public mapping");
    sub->add_flag("--json", options->json, "Print one JSON document {\"mappings\": [...], \"reported\": N, ...}");
    sub->add_option("FILE", options->files, "Compose files (- for standard input)");
    sub->callback([&action, options] { action = [options](const std::vector<std::string>&) { return compose_check(*options); }; });
}

}  // namespace bindguard::cli
