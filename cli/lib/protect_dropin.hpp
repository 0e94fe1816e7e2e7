// The text of the drop-in `bindguard protect UNIT` writes for a service (no I/O but the
// policy's program resolved for --backstop): its LD_PRELOAD and service name, the kernel
// twin's ExecCondition= lines, the --backstop ports.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bindguard/policy.hpp"
#include "shim_locate.hpp"
#include "systemd_unit.hpp"

namespace bindguard::cli {

// The first line of every file `bindguard protect` writes starts with it (unprotect checks).
inline constexpr const char* kProtectMarker = "# Written by `bindguard protect";

// What the drop-in is for: the options of `protect` that shape it.
struct DropInChoice {
    bool kernel = false;        // --kernel: attach the kernel twin at each start
    bool with_preload = false;  // with --kernel: the library as well
    bool backstop = false;      // --backstop: SocketBindAllow= the policy's ports, SocketBindDeny=any
    std::string self;           // with kernel: this bindguard command's path, for ExecCondition=
};

// "tcp:80", "udp:8000-8099": one SocketBindAllow= entry. Returns it.
std::string socket_bind_entry(const char* protocol, const PortRange& range);

// The SocketBindAllow= entries for the ports the policy gives the service: every rule that
// is not a deny and names the service (or matches the unit's program, resolved), for tcp
// and udp as the rule's protocol says, in the rules' order, each once. Returns them; fails
// ("protect", status 1) when such a rule gives every port, or when no rule names a port.
std::vector<std::string> backstop_ports(const Policy& policy, const std::string& service, const std::string& program);

// This bindguard command's own path (realpath of /proc/self/exe), for the command lines
// of the units `protect` and `protect docker` write. Returns it; fails ("protect", 126)
// when it cannot be told.
std::string own_path();

// The lines of --kernel: ExecCondition=+SELF kernel attach ... and ExecStopPost=+SELF
// kernel detach, every value quoted for the command line. Returns them.
std::string kernel_lines(const ServiceUnit& unit, const std::string& self, const std::string& policy_path,
                         const std::string& service);

// The drop-in's text (the marker line first, then its [Service] section); shim is the
// library's path ("" with the kernel twin alone), policy_path "" to leave BINDGUARD_POLICY
// unset, backstop the entries of backstop_ports() (with choice.backstop). Returns it.
std::string dropin_text(const DropInChoice& choice, const ServiceUnit& unit, const std::string& shim,
                        const std::string& policy_path, const std::string& service,
                        const std::vector<std::string>& backstop);

}  // namespace bindguard::cli
