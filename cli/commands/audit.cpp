// `bindguard audit [--policy FILE] [--format table|json|prometheus] [--output FILE]`: every
// listening/bound socket of this network namespace, who owns it, whether the library is
// loaded there, and whether it is exposed. (The Prometheus rendering: audit_format.cpp.)
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "audit_format.hpp"
#include "commands.hpp"
#include "docker_audit.hpp"
#if BINDGUARD_KERNEL_TWIN
#include "bindguard/kernel.hpp"
#endif
#include "owner_context.hpp"
#include "policy_source.hpp"
#include "processes.hpp"
#include "procnet.hpp"
#include "socket_listeners.hpp"
#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

struct AuditOptions {
    std::string policy;
    bool json = false;            // --json: the same as --format json
    std::string format = "table";
    std::string output;           // --output FILE: written atomically instead of stdout
};

struct AuditRow {
    NetSocket socket;
    std::vector<pid_t> pids;           // every process holding it (empty: unknown)
    std::optional<ProcessInfo> owner;  // the first of them
    std::optional<OwnerContext> context;  // what the owner's library was given, as far as readable
    std::string policy;                // the source of the policy the socket was judged with
    std::string verdict;               // ok | allowed | exposed | client
    std::string rule;                  // the deciding rule for allowed/exposed
    bool unprotected = false;          // exposed, and the owner has no library loaded and is not in a
                                       // cgroup of the kernel twin
    std::string socket_unit;           // held by pid 1 for this socket unit (systemd bound it)
    bool socket_kernel = false;        // that unit's binds go through the kernel twin (`protect UNIT.socket --kernel`)
    std::optional<DockerPublish> docker;  // held by docker-proxy or dockerd for this publish of a container
};

// "127.0.0.1:3000" / "[::1]:3000". Returns the text.
std::string endpoint_text(const Endpoint& endpoint) {
    char buf[64];
    format_endpoint(endpoint, buf, sizeof buf);
    return buf;
}

// The address alone ("::1"). Returns the text.
std::string address_text(const Endpoint& endpoint) {
    char buf[INET6_ADDRSTRLEN] = "?";
    ::inet_ntop(endpoint.family, endpoint.bytes.data(), buf, sizeof buf);
    return buf;
}

// True for a UDP socket that is a client's, not a server's: connected, or bound to the
// wildcard address on an ephemeral port (as after an implicit bind before a send).
bool is_udp_client(const NetSocket& socket, std::pair<std::uint16_t, std::uint16_t> ephemeral) {
    if (socket.protocol != Protocol::udp) return false;
    if (socket.connected()) return true;
    return is_wildcard(socket.local) && socket.local.port >= ephemeral.first && socket.local.port <= ephemeral.second;
}

// The policies sockets are judged with: audit's own (its --policy, else the library's
// lookup) and each owner's BINDGUARD_POLICY, loaded once each. A policy the library could
// not load made it fail closed, so it is judged as the fail-closed policy.
class OwnerPolicies {
public:
    explicit OwnerPolicies(const Policy& fallback) : fallback_(fallback) {}

    // The policy for an owner whose BINDGUARD_POLICY is path (nullopt or empty: audit's
    // own, as the library's lookup would find). Returns a reference valid as long as this.
    const Policy& for_owner(const std::optional<std::string>& path) {
        if (!path || path->empty()) return fallback_;
        auto found = loaded_.find(*path);
        if (found != loaded_.end()) return found->second;
        LoadResult result = load_policy_file(*path);
        if (!result.ok()) {
            std::cerr << "bindguard audit: note: the policy " << *path
                      << " named by an owner's BINDGUARD_POLICY is invalid, so its library fails closed:\n";
            print_diagnostics(result.diagnostics, std::cerr);
        }
        Policy policy = result.ok() ? std::move(*result.policy) : fail_closed_policy(*path);
        return loaded_.emplace(*path, std::move(policy)).first->second;
    }

private:
    const Policy& fallback_;
    std::map<std::string, Policy> loaded_;
};

// Finds what the owner's library was given, once per owner. Returns the context (nullopt
// without an owner).
std::optional<OwnerContext> read_owner_context(const std::optional<ProcessInfo>& owner,
                                               std::map<pid_t, OwnerContext>& known) {
    if (!owner) return std::nullopt;
    auto found = known.find(owner->pid);
    if (found != known.end()) return found->second;
    OwnerContext context = owner_context(*owner);
    known.emplace(owner->pid, context);
    return context;
}

// Says on stderr, once per owner, that a socket was judged without knowing what its
// owner's library was given - only where that matters: a non-loopback socket of an owner
// with the library (or unknown). Returns nothing.
void note_unreadable_context(const AuditRow& row, std::set<pid_t>& noted) {
    if (!row.owner || !row.context || row.context->source != OwnerContext::Source::unreadable) return;
    if (row.verdict != "allowed" && row.verdict != "exposed") return;
    if (!row.owner->has_library.value_or(true) || !noted.insert(row.owner->pid).second) return;
    std::cerr << "bindguard audit: note: the environment of " << row.owner->pid << "/" << row.owner->name
              << " cannot be read (the program wrote over it, and neither a `bindguard run` record nor a "
                 "systemd unit names it): its BINDGUARD_POLICY and BINDGUARD_SERVICE are unknown, judged with "
              << row.policy << " and no service\n";
}

// Sets row.verdict (and rule, unprotected, policy) from the socket, its owner and the
// policy the owner's library was given (row.context), as the library decided.
// Returns nothing.
void judge(AuditRow& row, OwnerPolicies& policies, std::pair<std::uint16_t, std::uint16_t> ephemeral) {
    if (is_loopback(row.socket.local)) {
        row.verdict = "ok";
        return;
    }
    if (is_udp_client(row.socket, ephemeral)) {
        row.verdict = "client";
        return;
    }
    Request request;
    request.address = row.socket.local;
    request.protocol = row.socket.protocol;
    std::string service;
    std::optional<std::string> policy_path;
    if (row.owner) {
        request.program = row.owner->program;
        request.command = row.owner->command;
        if (row.context) {
            service = row.context->service.value_or("");
            policy_path = row.context->policy;
        }
    }
    request.service = service;
    const Policy& policy = policies.for_owner(policy_path);
    row.policy = policy.source;
    Decision decision = decide(policy, request);
    row.rule = decision.rule;
    row.verdict = decision.action == Action::allow ? "allowed" : "exposed";
    row.unprotected = row.verdict == "exposed" && row.owner && row.owner->has_library == false &&
                      row.owner->in_kernel_cgroup != true;
}

// Builds one row per socket, sorted by protocol, port and address. Returns the rows;
// throws std::runtime_error when /proc/net cannot be read.
std::vector<AuditRow> collect_rows(const Policy& policy) {
    std::vector<NetSocket> sockets = bound_sockets();
#if BINDGUARD_KERNEL_TWIN
    // The kernel twin, when it is loaded and readable (root): who its cgroups protect.
    std::optional<kernel::Programs> kernel_twin;
    try {
        kernel_twin = kernel::Programs::open_pinned(kernel::names().pin_dir);
    } catch (const kernel::KernelError&) {
    }
#endif
    std::map<std::uint64_t, std::vector<pid_t>> owners = socket_owners();
    std::map<pid_t, ProcessInfo> processes;
    std::map<pid_t, OwnerContext> contexts;
    std::set<pid_t> noted;
    OwnerPolicies policies(policy);
    auto ephemeral = ephemeral_port_range();
    std::optional<std::vector<SocketUnit>> socket_units;  // read when pid 1 holds a socket
    const char* systemd_root = ::getenv(kSystemdRootVariable);
    const std::string root = systemd_root != nullptr ? systemd_root : "";
    std::vector<AuditRow> rows;
    for (const NetSocket& socket : sockets) {
        AuditRow row;
        row.socket = socket;
        if (auto found = owners.find(socket.inode); found != owners.end() && socket.inode != 0) {
            row.pids = found->second;
            pid_t pid = row.pids.front();
            if (!processes.contains(pid)) {
                ProcessInfo info = read_process(pid);
#if BINDGUARD_KERNEL_TWIN
                info.in_kernel_cgroup = kernel_twin ? kernel_twin->protects(pid) : std::optional<bool>(false);
                if (!kernel_twin && ::geteuid() != 0) info.in_kernel_cgroup.reset();  // cannot tell
#else
                info.in_kernel_cgroup = false;  // a build without the twin counts no one as protected by it
#endif
                processes.emplace(pid, std::move(info));
            }
            row.owner = processes.at(pid);
        }
        row.context = read_owner_context(row.owner, contexts);
        if (std::find(row.pids.begin(), row.pids.end(), 1) != row.pids.end()) {
            // systemd bound it for a socket unit: judged with that unit's service and policy.
            if (!socket_units) socket_units = known_socket_units(root, root.empty() && systemd_running());
            if (const SocketUnit* unit = socket_unit_of(socket, *socket_units)) {
                row.socket_unit = unit->name;
                row.socket_kernel = unit->kernel_protected;
                std::optional<std::string> policy_path;
                if (!unit->protected_policy.empty()) policy_path = unit->protected_policy;
                const std::string service = unit->protected_service.empty() ? socket_service_name(*unit)
                                                                            : unit->protected_service;
                row.context = OwnerContext{OwnerContext::Source::systemd_socket, 1, policy_path, service, unit->name};
            }
        }
        judge(row, policies, ephemeral);
        note_unreadable_context(row, noted);
        rows.push_back(std::move(row));
    }
    std::stable_sort(rows.begin(), rows.end(), [](const AuditRow& a, const AuditRow& b) {
        return std::tuple(a.socket.protocol, a.socket.local.port, a.socket.local.family) <
               std::tuple(b.socket.protocol, b.socket.local.port, b.socket.local.family);
    });
    return rows;
}

// Shows each socket docker-proxy or dockerd holds for a publish as that publish, judged by
// the address Docker publishes on (its packet rules reach from there, wherever the socket is
// bound: a kernel twin's rewrite to loopback closes nothing). Returns nothing.
void attach_docker(std::vector<AuditRow>& rows, const DockerState& docker) {
    for (AuditRow& row : rows) {
        if (!row.owner || !(is_docker_publisher(row.owner->program) || row.owner->name == "docker-proxy" || row.owner->name == "dockerd"))
            continue;
        const DockerPublish* same_port = nullptr;
        const DockerPublish* same_family = nullptr;
        for (const DockerPublish& publish : docker.publishes) {
            if (publish.host_network || publish.host_port != row.socket.local.port || publish.proto != to_string(row.socket.protocol)) continue;
            if (!same_port) same_port = &publish;
            const bool v6 = publish.host_ip.find(':') != std::string::npos;
            if (!same_family && v6 == (row.socket.local.family == AF_INET6)) same_family = &publish;
        }
        const DockerPublish* publish = same_family ? same_family : same_port;
        if (!publish) continue;
        row.docker = *publish;
        row.verdict = publish->verdict;
        row.rule = publish->rule;
        row.unprotected = publish->verdict == "exposed";
    }
}

// "1234/node", or "1234/redis-check-rdb[redis-server]" when the command name (comm, as
// `ss` and `ps` show it) is not the resolved program's file name; "-" when the owner is
// unknown. Returns the text.
std::string owner_text(const AuditRow& row) {
    if (!row.owner) return "-";
    if (row.docker) return std::to_string(row.owner->pid) + "/" + row.owner->name + " (container " + row.docker->container + ")";
    if (!row.socket_unit.empty()) return std::to_string(row.owner->pid) + "/" + row.owner->name + " (" + row.socket_unit + ")";
    if (row.owner->program.empty()) return std::to_string(row.owner->pid) + "/" + row.owner->name;
    std::string file = row.owner->program.substr(row.owner->program.rfind('/') + 1);
    // comm is the first 15 bytes of the name the program was started by.
    bool same = row.owner->name.empty() || file.substr(0, 15) == row.owner->name;
    return std::to_string(row.owner->pid) + "/" + file + (same ? "" : "[" + row.owner->name + "]");
}

// How the owner is protected: "yes" (the library), "yes (kernel)" (a cgroup of the kernel
// twin), "yes (preload, kernel)", "no", or "?" (owner unknown or unreadable). Returns the text.
std::string protected_text(const AuditRow& row) {
    if (!row.owner) return "?";
    // Docker's packet rules publish it wherever the socket is: neither way protects it.
    if (row.docker) return row.docker->verdict == "exposed" ? "no" : "-";
    // A socket unit's: the kernel twin decided its bind, unless it is public all the same.
    if (!row.socket_unit.empty() && row.socket_kernel && row.verdict != "exposed") return "yes (kernel)";
    const bool preload = row.owner->has_library == true, kernel = row.owner->in_kernel_cgroup == true;
    if (kernel) return preload ? "yes (preload, kernel)" : "yes (kernel)";
    if (!row.owner->has_library) return "?";
    return preload ? "yes" : "no";
}

// The ways the owner is protected, for JSON: ["preload"], ["kernel"], both, or [].
nlohmann::ordered_json protected_by(const ProcessInfo& owner) {
    nlohmann::ordered_json ways = nlohmann::ordered_json::array();
    if (owner.has_library == true) ways.push_back("preload");
    if (owner.in_kernel_cgroup == true) ways.push_back("kernel");
    return ways;
}

// The verdict column: "ok", "allowed (rule NAME)", "exposed", "exposed unprotected", "client".
std::string verdict_text(const AuditRow& row) {
    if (row.verdict == "allowed") return "allowed (rule " + row.rule + ")";
    if (row.docker && row.verdict == "exposed")
        return "exposed: Docker publishes it on " + (row.docker->host_ip.empty() ? std::string("every address") : row.docker->host_ip) +
               "; fix: " + row.docker->fix;
    if (row.unprotected) return row.verdict + " unprotected";
    return row.verdict;
}

// The Docker section of the table: each publish (and --network host container) with its
// container, image, Compose project/service and verdict. Returns nothing.
void print_docker_table(std::ostream& out, const DockerState& docker) {
    out << "\nDocker (" << docker.socket << "):\n";
    std::vector<std::vector<std::string>> lines = {{"Proto", "Published", "Container", "Image", "Compose", "Verdict"}};
    for (const DockerPublish& publish : docker.publishes) {
        std::string published = publish.host_network ? "host network"
                                : publish.host_ip.find(':') != std::string::npos
                                    ? "[" + publish.host_ip + "]:" + std::to_string(publish.host_port)
                                    : (publish.host_ip.empty() ? "*" : publish.host_ip) + ":" + std::to_string(publish.host_port);
        std::string compose = publish.compose_service.empty() ? "-" : publish.compose_project + "/" + publish.compose_service;
        std::string verdict = publish.verdict == "allowed" ? "allowed (rule " + publish.rule + ")"
                              : publish.reported()         ? publish.verdict + "; fix: " + publish.fix
                                                           : publish.verdict;
        lines.push_back({publish.host_network ? "-" : publish.proto, published, publish.container, publish.image, compose, verdict});
    }
    std::vector<std::size_t> widths(6, 0);
    for (const auto& line : lines)
        for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], line[i].size());
    for (const auto& line : lines) {
        for (std::size_t i = 0; i + 1 < line.size(); ++i) out << std::left << std::setw(static_cast<int>(widths[i] + 2)) << line[i];
        out << line.back() << '\n';
    }
}

// Docker's publishes as JSON: {"socket", "publishes": [...], "public": N}. Returns it.
nlohmann::ordered_json docker_json(const DockerState& docker, int reported) {
    nlohmann::ordered_json publishes = nlohmann::ordered_json::array();
    auto text_or_null = [](const std::string& text) { return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text); };
    for (const DockerPublish& publish : docker.publishes)
        publishes.push_back({{"container", publish.container},
                             {"image", publish.image},
                             {"compose_project", text_or_null(publish.compose_project)},
                             {"compose_service", text_or_null(publish.compose_service)},
                             {"network", publish.host_network ? "host" : "published"},
                             {"proto", text_or_null(publish.proto)},
                             {"host_address", publish.host_network ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(publish.host_ip)},
                             {"host_port", publish.host_network ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(publish.host_port)},
                             {"container_port", publish.host_network ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(publish.container_port)},
                             {"service", publish.service()},
                             {"verdict", publish.verdict},
                             {"reported", publish.reported()},
                             {"rule", text_or_null(publish.rule)},
                             {"reason", text_or_null(publish.reason)},
                             {"fix", text_or_null(publish.fix)}});
    return {{"socket", docker.socket}, {"publishes", publishes}, {"public", reported}};
}

// Prints the table and a summary line to out. Returns nothing.
void print_table(std::ostream& out, const std::vector<AuditRow>& rows, int exposed, int unprotected,
                 const std::optional<DockerState>& docker, int docker_reported) {
    std::vector<std::vector<std::string>> lines = {{"Proto", "Local-Address", "PID/Program", "Protected", "Verdict"}};
    for (const AuditRow& row : rows)
        lines.push_back({to_string(row.socket.protocol), endpoint_text(row.socket.local), owner_text(row),
                         protected_text(row), verdict_text(row)});
    std::vector<std::size_t> widths(5, 0);
    for (const auto& line : lines)
        for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], line[i].size());
    for (const auto& line : lines) {
        for (std::size_t i = 0; i + 1 < line.size(); ++i) out << std::left << std::setw(static_cast<int>(widths[i] + 2)) << line[i];
        out << line.back() << '\n';
    }
    if (docker) print_docker_table(out, *docker);
    out << rows.size() << " sockets, " << exposed << " exposed (" << unprotected << " unprotected)";
    if (docker) out << "; Docker: " << docker->publishes.size() << " publishes, " << docker_reported << " public";
    out << '\n';
}

// One socket as a JSON object. Returns it.
nlohmann::ordered_json row_json(const AuditRow& row) {
    nlohmann::ordered_json out = {
        {"proto", to_string(row.socket.protocol)},
        {"local", endpoint_text(row.socket.local)},
        {"address", address_text(row.socket.local)},
        {"port", row.socket.local.port},
        {"inode", row.socket.inode},
        {"uid", row.socket.uid},
        {"pids", row.pids},
        {"pid", nullptr},
        {"program", nullptr},
        {"name", nullptr},
        {"command", nullptr},
        {"service", nullptr},
        {"socket_unit", row.socket_unit.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(row.socket_unit)},
        {"context", nullptr},
        {"judged_with", row.policy.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(row.policy)},
        {"protected", nullptr},
        {"protected_by", nlohmann::ordered_json::array()},
        {"verdict", row.verdict},
        {"unprotected", row.unprotected},
        {"rule", row.rule.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(row.rule)},
        {"docker", nullptr},
    };
    if (row.docker)
        out["docker"] = {{"container", row.docker->container}, {"image", row.docker->image},
                         {"published", row.docker->host_ip}, {"port", row.docker->host_port},
                         {"fix", row.docker->fix.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(row.docker->fix)}};
    if (row.owner) {
        out["pid"] = row.owner->pid;
        out["program"] = row.owner->program;
        out["name"] = row.owner->name;
        out["command"] = row.owner->command;
    }
    if (row.context) {
        if (row.context->service) out["service"] = *row.context->service;
        out["context"] = {{"source", to_string(row.context->source)},
                          {"unit", row.context->unit.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(row.context->unit)},
                          {"pid", row.context->from == 0 ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(row.context->from)},
                          {"policy", row.context->policy ? nlohmann::ordered_json(*row.context->policy) : nlohmann::ordered_json(nullptr)}};
    }
    if (row.owner) {
        if (row.owner->has_library) out["protected"] = *row.owner->has_library;
        if (row.owner->in_kernel_cgroup == true) out["protected"] = true;
        out["protected_by"] = protected_by(*row.owner);
        if (protected_text(row) == "yes (kernel)" && !row.socket_unit.empty()) {  // its socket unit's kernel twin
            out["protected"] = true;
            out["protected_by"] = nlohmann::ordered_json::array({"kernel"});
        }
        if (row.docker) {  // Docker's packet rules publish it, whatever holds the socket
            out["protected"] = false;
            out["protected_by"] = nlohmann::ordered_json::array();
        }
    }
    return out;
}

// The whole report as one JSON document on out. Returns nothing.
void print_json(std::ostream& out, const std::vector<AuditRow>& rows, const std::string& policy, int exposed, int unprotected,
                const std::optional<DockerState>& docker, int docker_reported) {
    nlohmann::ordered_json sockets = nlohmann::ordered_json::array();
    for (const AuditRow& row : rows) sockets.push_back(row_json(row));
    nlohmann::ordered_json document = {
        {"policy", policy}, {"sockets", sockets}, {"exposed", exposed}, {"unprotected", unprotected},
        {"docker", docker ? docker_json(*docker, docker_reported) : nlohmann::ordered_json(nullptr)}};
    // Command lines may hold bytes that are not UTF-8: replace them rather than fail.
    out << document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

// Each row as the Prometheus metrics see it. Returns the samples.
std::vector<AuditSample> samples(const std::vector<AuditRow>& rows) {
    std::vector<AuditSample> result;
    for (const AuditRow& row : rows) {
        AuditSample sample;
        sample.proto = to_string(row.socket.protocol);
        sample.address = address_text(row.socket.local);
        sample.port = row.socket.local.port;
        sample.program = !row.owner ? "-" : !row.owner->program.empty() ? row.owner->program : row.owner->name;
        sample.verdict = row.verdict;
        // "yes" whichever way it is protected (the library, the kernel twin or both).
        const std::string protection = protected_text(row);
        sample.protection = protection == "?" ? "unknown" : protection.starts_with("yes") ? "yes" : protection;
        sample.unprotected = row.unprotected;
        result.push_back(std::move(sample));
    }
    return result;
}

// Each Docker publish as the metrics see it. Returns the samples.
std::vector<DockerSample> docker_samples(const DockerState& docker) {
    std::vector<DockerSample> result;
    for (const DockerPublish& publish : docker.publishes)
        result.push_back({publish.host_network ? "" : publish.proto, publish.host_ip, publish.host_port, publish.container,
                          publish.image, publish.compose_project, publish.compose_service, publish.verdict});
    return result;
}

// Runs the audit. Returns 0 when nothing is exposed, 1 when something is, 2 on error.
int audit(const AuditOptions& options) {
    AuditFormat format = AuditFormat::table;
    if (!parse_audit_format(options.format, format))
        throw UsageError("--format: invalid value '" + options.format + "' (table, json or prometheus)");
    if (options.json) {
        if (format == AuditFormat::prometheus) throw UsageError("--json and --format prometheus contradict each other");
        format = AuditFormat::json;
    }
    auto [source, loaded] = load_and_report_policy(options.policy, std::cerr);
    if (!loaded.ok()) {
        std::cerr << "bindguard audit: the policy " << source.path << " (from " << source.named_by << ") is invalid\n";
        return kExitUsage;
    }
    // Programs that start now under it would fail closed: say so (it is not compiled here).
    if (const std::string warning = image_warning(source.path); !warning.empty()) std::cerr << warning << '\n';
    std::vector<AuditRow> rows;
    std::optional<DockerState> docker;
    double started = now_seconds();
    try {
        rows = collect_rows(*loaded.policy);
        docker = read_docker();  // nullopt without a Docker socket
    } catch (const std::exception& error) {
        std::cerr << "bindguard audit: " << error.what() << '\n';
        return kExitUsage;
    }
    int docker_reported = 0;
    if (docker) {
        judge_docker(*docker, *loaded.policy);
        attach_docker(rows, *docker);
        docker_reported = static_cast<int>(std::count_if(docker->publishes.begin(), docker->publishes.end(),
                                                         [](const DockerPublish& p) { return p.reported(); }));
    }
    int exposed = static_cast<int>(std::count_if(rows.begin(), rows.end(), [](const AuditRow& r) { return r.verdict == "exposed"; }));
    int unprotected = static_cast<int>(std::count_if(rows.begin(), rows.end(), [](const AuditRow& r) { return r.unprotected; }));
    std::ostringstream report;
    if (format == AuditFormat::json) print_json(report, rows, loaded.policy->source, exposed, unprotected, docker, docker_reported);
    else if (format == AuditFormat::prometheus) {
        report << prometheus_text(samples(rows), started);
        if (docker) report << docker_prometheus_text(docker_samples(*docker));
    } else print_table(report, rows, exposed, unprotected, docker, docker_reported);
    if (!deliver_report(report.str(), options.output)) return kExitUsage;
    return exposed > 0 || docker_reported > 0 ? kExitFailure : kExitOk;
}

}  // namespace

void add_audit_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<AuditOptions>();
    CLI::App* sub = app.add_subcommand(
        "audit",
        "List the listening sockets, their owners, and which are exposed.\n"
        "Lists every TCP socket in LISTEN state and every bound UDP socket of this network namespace,\n"
        "with its owner (pid/program), whether it is protected (the bindguard library is loaded there:\n"
        "\"yes\"; it runs in a cgroup of the kernel twin, `run --kernel`: \"yes (kernel)\"), and a verdict:\n"
        "  ok        bound to loopback\n"
        "  allowed   not loopback, but the policy allows it for that program/command/service\n"
        "  exposed   anything else (\"exposed unprotected\": the owner is protected neither way)\n"
        "  client    a UDP client socket (connected, or wildcard on an ephemeral port)\n"
        "Owners that cannot be read (other users' processes, without root) show as \"-\".\n"
        "Each owner is judged as its library decided: with the BINDGUARD_POLICY and BINDGUARD_SERVICE\n"
        "it was given, read from /proc/PID/environ, or - for programs that write their title over it\n"
        "(nginx, Redis, PostgreSQL) - from the record `bindguard run` left for it, the environment\n"
        "of the process it was forked from, or the Environment= of its systemd unit (the drop-in of\n"
        "`bindguard protect`); a note on stderr says when none can be read. A socket pid 1 holds is\n"
        "systemd's, bound for a socket unit: shown as \"1/systemd (app.socket)\" and judged with that\n"
        "unit's service (and the policy of its `protect UNIT.socket --kernel` drop-in).\n"
        "Owners without BINDGUARD_POLICY: --policy, else BINDGUARD_POLICY, else\n"
        "/etc/bindguard/policy.toml, else the built-in one.\n"
        "--format prometheus: the text format of node_exporter's textfile collector (socket counts by\n"
        "verdict and protection, one series per exposed or unprotected socket, the audit's time);\n"
        "--output FILE replaces FILE atomically (a temporary file renamed over it).\n"
        "Docker: when the Engine API socket is there (DOCKER_HOST=unix://PATH, else /var/run/docker.sock),\n"
        "audit also lists each port a running container publishes (container, image, Compose project\n"
        "and service) and each --network host container, judged as compose-check judges a mapping (the\n"
        "Compose service, else the container name, is the rule's service) by the address Docker\n"
        "publishes on - its packet rules reach from there, wherever docker-proxy's socket is bound - with\n"
        "the fix; a socket docker-proxy or dockerd holds is shown as that container's publish.\n"
        "Exit 0 when nothing is exposed, 1 when something is (a public Docker publish too), 2 on error.");
    sub->add_option("--policy", options->policy, "Policy for owners that were not given one in BINDGUARD_POLICY");
    sub->add_option("--format", options->format, "table (default), json (one document {\"sockets\": [...], \"exposed\": N, ...}) or prometheus");
    sub->add_flag("--json", options->json, "The same as --format json");
    sub->add_option("--output", options->output, "Write the report to FILE atomically instead of to stdout");
    sub->callback([&action, options] { action = [options](const std::vector<std::string>&) { return audit(*options); }; });
}

}  // namespace bindguard::cli
