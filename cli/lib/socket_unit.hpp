// systemd socket units: what they listen on, which service they hand their sockets to,
// and whether bindguard can protect those sockets. systemd (pid 1) binds a socket unit's
// listen lines itself, so the library preloaded into the service never sees those binds;
// only the kernel twin, attached to the socket unit's own cgroup, can (systemd binds IP
// listen lines in a helper it forks into that cgroup when BPF firewalling is supported).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::cli {

// One ListenStream=, ListenDatagram= or ListenSequentialPacket= line, parsed as systemd
// parses it (systemd.socket(5)).
struct ListenLine {
    std::string directive;  // "ListenStream"
    std::string value;      // as written: "0.0.0.0:8080", "8080", "[::1]:53%lo", "/run/app.sock"
    std::string file;       // where it was written
    int line = 0;
    bool ip = false;        // an IPv4 or IPv6 address (else AF_UNIX, vsock, ...)
    Protocol protocol = Protocol::tcp;  // tcp (Stream), udp (Datagram), other (SequentialPacket: SCTP; SocketProtocol=sctp)
    Endpoint address;       // for ip: what systemd binds; a bare port is [::]:P (or 0.0.0.0:P without IPv6)
    bool v6only = false;    // IPV6_V6ONLY on an AF_INET6 address (BindIPv6Only=ipv6-only, or default with bindv6only=1)
    std::string device;     // the "%dev" suffix, when written

    // "ListenStream=0.0.0.0:8080 (/etc/systemd/system/app.socket:3)". Returns it.
    std::string where() const;
};

struct SocketUnit {
    std::string name;       // "app.socket"
    std::string source;     // its unit file
    std::string service;    // the unit it activates: Service=, else NAME.service (NAME@.service with Accept=yes)
    bool accept = false;
    bool freebind = false;
    std::string bind_to_device;  // BindToDevice=
    std::vector<ListenLine> listens;
    std::vector<std::string> exec_start_pre;  // its own ExecStartPre= command lines (but bindguard's `kernel attach`)
    bool kernel_protected = false;  // bindguard's drop-in attaches the kernel twin to it (`protect UNIT.socket --kernel`)
    std::string protected_policy;   // the --policy that drop-in gives attach ("" when none)
    std::string protected_service;  // the --service it gives attach
};

// Reads the socket unit from its unit file and drop-ins (bindguard.conf included) under
// root: the listen lines in order ("ListenStream=" empty resets them all), Service=,
// Accept=, BindIPv6Only=, FreeBind=, BindToDevice=, SocketProtocol=, ExecStartPre=.
// Returns it; throws std::runtime_error naming the file and line of a listen line
// systemd would refuse, or saying the unit is not found.
SocketUnit read_socket_unit(const std::string& name, const std::string& root);

// The socket units that hand their sockets to service (e.g. "app.service"): those named
// by its Sockets=, the same-named "app.socket", each socket unit whose Service= names it,
// and for an instance "app@x.service" an "app.socket" with Accept=yes. Units that cannot
// be read are skipped. Returns their names, sorted, each once.
std::vector<std::string> socket_units_of(const std::string& service, const std::string& root);

// How one listen line stands under the policy for the socket unit's service.
struct ListenVerdict {
    enum class Kind {
        not_ip,    // AF_UNIX, vsock...: nothing public to protect
        loopback,  // on loopback (or confined to it by BindToDevice=lo)
        allowed,   // not loopback, but a rule allows it for the service
        exposed,   // not loopback and not allowed: public, unless the kernel twin rewrites it
    };
    Kind kind = Kind::not_ip;
    std::string rule;  // the deciding rule for allowed and exposed
    std::string fix;   // for exposed: the loopback line that would do ("ListenStream=127.0.0.1:8080")
};

// Judges line with decide() for service (rules by `service` apply; `program` and `command`
// rules never match: systemd is the binder). Returns the verdict.
ListenVerdict judge_listen(const Policy& policy, const std::string& service, const SocketUnit& unit,
                           const ListenLine& line);

// The service name bindguard uses for a socket unit's sockets: the policy's `service`
// of the unit it activates ("app.service" -> "app", "app@.service" -> "app"). Returns it.
std::string socket_service_name(const SocketUnit& unit);

// Whether the running systemd binds IP listen lines in the socket unit's cgroup: systemd
// 252 does so when its BPF firewall is supported, which needs cgroup v2 for its units
// (the unified or the hybrid layout; measured under both). Returns nullopt when it does,
// else the reason. (`kernel check-socket` catches the other reasons at run time.)
std::optional<std::string> pid1_binds_outside_cgroups();

}  // namespace bindguard::cli
