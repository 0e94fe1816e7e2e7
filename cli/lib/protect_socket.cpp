// Socket units in `bindguard protect` (see protect_socket.hpp).
#include "protect_socket.hpp"

#include <algorithm>
#include <stdexcept>

#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

// The listen line, where it is written, and what systemd makes of it: "ListenStream=8080
// (FILE:LINE): [::]:8080, IPv4 too". Returns it.
std::string described(const SocketUnit& unit, const ListenLine& line) {
    std::vector<std::string> notes;
    char address[64];
    format_endpoint(line.address, address, sizeof address);
    if (line.value.find_first_not_of("0123456789") == std::string::npos) notes.push_back(address);  // a bare port
    if (line.address.family == AF_INET6 && is_wildcard(line.address)) notes.push_back(line.v6only ? "IPv6 only" : "IPv4 too");
    if (!line.device.empty())
        notes.push_back("%" + line.device + " only sets the scope of a link-local IPv6 address, it does not confine the "
                        "socket to that device");
    if (unit.freebind) notes.push_back("FreeBind=yes: bound even while the address is not on this host");
    std::string text = line.where();
    for (std::size_t i = 0; i < notes.size(); ++i) text += (i == 0 ? ": " : ", ") + notes[i];
    return text;
}

}  // namespace

SocketFindings service_socket_findings(const std::string& service_unit, const std::string& root, const Policy& policy,
                                       const std::string& service) {
    SocketFindings findings;
    std::vector<std::string> names = socket_units_of(service_unit, root);
    if (root.empty() && systemd_running())
        for (const std::string& name : unit_words(systemctl_value(service_unit, "TriggeredBy")))
            if (name.ends_with(".socket") && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    for (const std::string& name : names) {
        SocketUnit unit;
        try {
            unit = read_socket_unit(name, root);
        } catch (const std::runtime_error& error) {
            findings.warnings.push_back(name + " hands its sockets to " + service_unit + " but cannot be read: " +
                                        error.what() + "; its sockets are not protected by this drop-in");
            findings.exposed = true;
            continue;
        }
        for (const ListenLine& line : unit.listens) {
            ListenVerdict verdict = judge_listen(policy, service, unit, line);
            if (verdict.kind != ListenVerdict::Kind::exposed || unit.kernel_protected) continue;
            findings.exposed = true;
            findings.warnings.push_back(
                name + " listens publicly for " + service_unit + ": " + described(unit, line) +
                ". systemd (pid 1) binds it and hands it over, so this drop-in cannot protect it: `bindguard protect " +
                name + " --kernel`, or " + verdict.fix + " in the socket unit");
        }
    }
    return findings;
}

std::string socket_refusal(const SocketUnit& unit, const Policy& policy, const std::string& service) {
    std::string text = "refusing to protect " + unit.name + " with the library: systemd (pid 1) binds its listen lines "
                       "itself and hands the sockets to " + unit.service + ", and pid 1 cannot be preloaded.";
    std::string fixes;
    for (const ListenLine& line : unit.listens) {
        ListenVerdict verdict = judge_listen(policy, service, unit, line);
        if (verdict.kind != ListenVerdict::Kind::exposed) continue;
        text += "\nbindguard protect: public: " + described(unit, line);
        fixes += (fixes.empty() ? "" : ", ") + verdict.fix;
    }
    if (fixes.empty())
        return text + "\nbindguard protect: its listen lines are on loopback (or not IP, or allowed) already; "
                      "`bindguard protect " + unit.name + " --kernel` holds them there whatever the unit says later";
    return text + "\nbindguard protect: either `bindguard protect " + unit.name +
           " --kernel` (the kernel twin in the socket unit's cgroup, where systemd binds them), or listen on loopback "
           "in the unit: " + fixes;
}

std::string socket_kernel_lines(const std::string& self, const std::string& policy_path, const std::string& service) {
    std::string options = " --service " + exec_quoted(service);
    if (!policy_path.empty()) options += " --policy " + exec_quoted(policy_path);
    return "# --kernel: systemd binds this unit's IP listen lines in a helper it forks into the unit's own\n"
           "# cgroup, after its ExecStartPre= lines. At each start, `bindguard kernel attach` protects that\n"
           "# cgroup with the kernel twin first; if it cannot, it fails and so does the socket unit, which\n"
           "# then listens nowhere. Once the sockets are open, `kernel check-socket` fails the unit (its\n"
           "# sockets are closed) if one is public all the same. After each stop, `kernel detach`.\n"
           "ExecStartPre=+" + self + " kernel attach" + options + "\n"
           "ExecStartPost=+" + self + " kernel check-socket" + options + " %n\n"
           "ExecStopPost=+" + self + " kernel detach\n";
}

std::vector<std::string> socket_start_pre_warnings(const SocketUnit& unit) {
    std::vector<std::string> warnings;
    for (const std::string& line : unit.exec_start_pre)
        warnings.push_back(unit.name + " has its own ExecStartPre=" + line + " (" + unit.source +
                           "): systemd runs it before bindguard's `kernel attach`, so without the kernel twin; if it "
                           "binds, reset ExecStartPre= in another drop-in and list it again after bindguard's");
    return warnings;
}

}  // namespace bindguard::cli
