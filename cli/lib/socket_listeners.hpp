// The live sockets systemd (pid 1) holds for socket units: which unit a listener belongs
// to (for `bindguard audit`), and whether a protected socket unit's listeners ended where
// the policy wants them (`bindguard kernel check-socket`, the unit's ExecStartPost=).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "procnet.hpp"
#include "socket_unit.hpp"

namespace bindguard::cli {

// The socket units audit can attribute pid 1's listeners to. With systemd running: the
// active ones (`systemctl list-units --type=socket --state=active`), read from their unit
// files; else every *.socket unit file under root. Units that cannot be read are skipped.
// Returns them.
std::vector<SocketUnit> known_socket_units(const std::string& root, bool use_systemctl);

// The socket unit among units with an IP listen line for the socket's protocol and port
// (one whose address is the socket's wins over one whose address the kernel twin may have
// rewritten). Returns it, or nullptr.
const SocketUnit* socket_unit_of(const NetSocket& socket, const std::vector<SocketUnit>& units);

// The listeners of unit's IP listen lines that are public under the policy for service:
// the sockets of this network namespace that pid 1 holds, bound to the protocol, address
// and port of a listen line as written (the kernel twin would have moved them to
// loopback), when that address is not loopback and no rule allows it.
// Returns them as "tcp 0.0.0.0:8080" (empty: all is well); throws std::runtime_error when
// /proc/net cannot be read.
std::vector<std::string> public_listeners(const SocketUnit& unit, const Policy& policy, const std::string& service);

}  // namespace bindguard::cli
