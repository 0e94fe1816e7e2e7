// What `bindguard protect` says and writes for systemd socket units: the warnings for a
// service whose sockets systemd binds, the refusal of a socket unit without --kernel, and
// the --kernel drop-in of a socket unit.
#pragma once

#include <string>
#include <vector>

#include "bindguard/policy.hpp"
#include "socket_unit.hpp"

namespace bindguard::cli {

// What protect says about the socket units of a service.
struct SocketFindings {
    std::vector<std::string> warnings;  // one message per listen line the drop-in cannot protect (or unit unreadable)
    bool exposed = false;               // a socket unit of it listens publicly, unprotected
};

// For `protect SERVICE`: reads the socket units that hand their sockets to service_unit
// (socket_units_of) and judges each IP listen line for service under policy; a line on
// loopback, allowed by a rule, or in a socket unit the kernel twin protects (its own
// `protect UNIT.socket --kernel` drop-in) is fine. Returns the findings.
SocketFindings service_socket_findings(const std::string& service_unit, const std::string& root, const Policy& policy,
                                       const std::string& service);

// For `protect UNIT.socket` without --kernel: why it is refused (pid 1 binds, and cannot be
// preloaded), with each public listen line and the two ways out. Returns the message.
std::string socket_refusal(const SocketUnit& unit, const Policy& policy, const std::string& service);

// The [Socket] lines of `protect UNIT.socket --kernel`: attach as ExecStartPre=+ (systemd
// binds after it, in the unit's cgroup; a failure fails the unit), check-socket as
// ExecStartPost=+ (fails the unit when a listen line is public all the same), detach as
// ExecStopPost=+. self is this command's path. Returns them.
std::string socket_kernel_lines(const std::string& self, const std::string& policy_path, const std::string& service);

// The warnings for the unit's own ExecStartPre= lines, which systemd runs before the
// drop-in's attach, so without the kernel twin. Returns them.
std::vector<std::string> socket_start_pre_warnings(const SocketUnit& unit);

}  // namespace bindguard::cli
