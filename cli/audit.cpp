// `bindguard audit [--policy FILE] [--json]`: every listening/bound socket of this network
// namespace, who owns it, whether the library is loaded there, and whether it is exposed.
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "bindguard/kernel.hpp"
#include "commands.hpp"
#include "policy_source.hpp"
#include "processes.hpp"
#include "procnet.hpp"

namespace bindguard::cli {
namespace {

struct AuditOptions {
    std::string policy;
    bool json = false;
};

struct AuditRow {
    NetSocket socket;
    std::vector<pid_t> pids;           // every process holding it (empty: unknown)
    std::optional<ProcessInfo> owner;  // the first of them
    std::string verdict;               // ok | allowed | exposed | client
    std::string rule;                  // the deciding rule for allowed/exposed
    bool unprotected = false;          // exposed, and the owner has no library loaded and is not in a
                                       // cgroup of the kernel twin
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

// Sets row.verdict (and rule, unprotected) from the socket, its owner and the policy.
// Returns nothing.
void judge(AuditRow& row, const Policy& policy, std::pair<std::uint16_t, std::uint16_t> ephemeral) {
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
    if (row.owner) {
        request.program = row.owner->program;
        request.command = row.owner->command;
        request.service = row.owner->service;
    }
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
    // The kernel twin, when it is loaded and readable (root): who its cgroups protect.
    std::optional<kernel::Programs> kernel_twin;
    try {
        kernel_twin = kernel::Programs::open_pinned(kernel::names().pin_dir);
    } catch (const kernel::KernelError&) {
    }
    std::map<std::uint64_t, std::vector<pid_t>> owners = socket_owners();
    std::map<pid_t, ProcessInfo> processes;
    auto ephemeral = ephemeral_port_range();
    std::vector<AuditRow> rows;
    for (const NetSocket& socket : sockets) {
        AuditRow row;
        row.socket = socket;
        if (auto found = owners.find(socket.inode); found != owners.end() && socket.inode != 0) {
            row.pids = found->second;
            pid_t pid = row.pids.front();
            if (!processes.contains(pid)) {
                ProcessInfo info = read_process(pid);
                info.in_kernel_cgroup = kernel_twin ? kernel_twin->protects(pid) : std::optional<bool>(false);
                if (!kernel_twin && ::geteuid() != 0) info.in_kernel_cgroup.reset();  // cannot tell
                processes.emplace(pid, std::move(info));
            }
            row.owner = processes.at(pid);
        }
        judge(row, policy, ephemeral);
        rows.push_back(std::move(row));
    }
    std::stable_sort(rows.begin(), rows.end(), [](const AuditRow& a, const AuditRow& b) {
        return std::tuple(a.socket.protocol, a.socket.local.port, a.socket.local.family) <
               std::tuple(b.socket.protocol, b.socket.local.port, b.socket.local.family);
    });
    return rows;
}

// "1234/node" or "-" when the owner is unknown. Returns the text.
std::string owner_text(const AuditRow& row) {
    if (!row.owner) return "-";
    std::string name = row.owner->program.empty() ? row.owner->name
                                                  : row.owner->program.substr(row.owner->program.rfind('/') + 1);
    return std::to_string(row.owner->pid) + "/" + name;
}

// How the owner is protected: "yes" (the library), "yes (kernel)" (a cgroup of the kernel
// twin), "yes (preload, kernel)", "no", or "?" (owner unknown or unreadable). Returns the text.
std::string protected_text(const AuditRow& row) {
    if (!row.owner) return "?";
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
    if (row.unprotected) return row.verdict + " unprotected";
    return row.verdict;
}

// Prints the table and a summary line to stdout. Returns nothing.
void print_table(const std::vector<AuditRow>& rows, int exposed, int unprotected) {
    std::vector<std::vector<std::string>> lines = {{"Proto", "Local-Address", "PID/Program", "Protected", "Verdict"}};
    for (const AuditRow& row : rows)
        lines.push_back({to_string(row.socket.protocol), endpoint_text(row.socket.local), owner_text(row),
                         protected_text(row), verdict_text(row)});
    std::vector<std::size_t> widths(5, 0);
    for (const auto& line : lines)
        for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], line[i].size());
    for (const auto& line : lines) {
        for (std::size_t i = 0; i + 1 < line.size(); ++i) std::cout << std::left << std::setw(static_cast<int>(widths[i] + 2)) << line[i];
        std::cout << line.back() << '\n';
    }
    std::cout << rows.size() << " sockets, " << exposed << " exposed (" << unprotected << " unprotected)\n";
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
        {"command", nullptr},
        {"service", nullptr},
        {"protected", nullptr},
        {"protected_by", nlohmann::ordered_json::array()},
        {"verdict", row.verdict},
        {"unprotected", row.unprotected},
        {"rule", row.rule.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(row.rule)},
    };
    if (row.owner) {
        out["pid"] = row.owner->pid;
        out["program"] = row.owner->program;
        out["command"] = row.owner->command;
        if (!row.owner->service.empty()) out["service"] = row.owner->service;
        if (row.owner->has_library) out["protected"] = *row.owner->has_library;
        if (row.owner->in_kernel_cgroup == true) out["protected"] = true;
        out["protected_by"] = protected_by(*row.owner);
    }
    return out;
}

// The whole report as one JSON document on stdout. Returns nothing.
void print_json(const std::vector<AuditRow>& rows, const std::string& policy, int exposed, int unprotected) {
    nlohmann::ordered_json sockets = nlohmann::ordered_json::array();
    for (const AuditRow& row : rows) sockets.push_back(row_json(row));
    nlohmann::ordered_json document = {
        {"policy", policy}, {"sockets", sockets}, {"exposed", exposed}, {"unprotected", unprotected}};
    // Command lines may hold bytes that are not UTF-8: replace them rather than fail.
    std::cout << document.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

// Runs the audit. Returns 0 when nothing is exposed, 1 when something is, 2 on error.
int audit(const AuditOptions& options) {
    auto [source, loaded] = load_and_report_policy(options.policy, std::cerr);
    if (!loaded.ok()) {
        std::cerr << "bindguard audit: the policy " << source.path << " (from " << source.named_by << ") is invalid\n";
        return kExitUsage;
    }
    std::vector<AuditRow> rows;
    try {
        rows = collect_rows(*loaded.policy);
    } catch (const std::exception& error) {
        std::cerr << "bindguard audit: " << error.what() << '\n';
        return kExitUsage;
    }
    int exposed = static_cast<int>(std::count_if(rows.begin(), rows.end(), [](const AuditRow& r) { return r.verdict == "exposed"; }));
    int unprotected = static_cast<int>(std::count_if(rows.begin(), rows.end(), [](const AuditRow& r) { return r.unprotected; }));
    if (options.json) print_json(rows, loaded.policy->source, exposed, unprotected);
    else print_table(rows, exposed, unprotected);
    return exposed > 0 ? kExitFailure : kExitOk;
}

}  // namespace

void add_audit_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<AuditOptions>();
    CLI::App* sub = app.add_subcommand(
        "audit",
        "List every TCP socket in LISTEN state and every bound UDP socket of this network namespace,\n"
        "with its owner (pid/program), whether it is protected (the bindguard library is loaded there:\n"
        "\"yes\"; it runs in a cgroup of the kernel twin, `run --kernel`: \"yes (kernel)\"), and a verdict:\n"
        "  ok        bound to loopback\n"
        "  allowed   not loopback, but the policy allows it for that program/command/service\n"
        "  exposed   anything else (\"exposed unprotected\": the owner is protected neither way)\n"
        "  client    a UDP client socket (connected, or wildcard on an ephemeral port)\n"
        "Owners that cannot be read (other users' processes, without root) show as \"-\".\n"
        "Without --policy: BINDGUARD_POLICY, else /etc/bindguard/policy.toml, else the built-in one.\n"
        "Exit 0 when nothing is exposed, 1 when something is, 2 on error.");
    sub->add_option("--policy", options->policy, "Policy that decides what is allowed");
    sub->add_flag("--json", options->json, "Print one JSON document {\"sockets\": [...], \"exposed\": N, ...}");
    sub->callback([&action, options] { action = [options](const std::vector<std::string>&) { return audit(*options); }; });
}

}  // namespace bindguard::cli
