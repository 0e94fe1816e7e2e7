// The sockets of this network namespace, read from /proc/net/{tcp,tcp6,udp,udp6}.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::cli {

struct NetSocket {
    Protocol protocol = Protocol::tcp;  // tcp or udp
    Endpoint local;
    Endpoint remote;
    int state = 0;  // the kernel's TCP state number (UDP: 1 = connected, 7 = unconnected)
    std::uint64_t inode = 0;
    std::uint32_t uid = 0;

    bool listening() const { return protocol == Protocol::tcp && state == 0x0A; }
    bool connected() const { return state == 0x01; }
};

// Reads one /proc/net table (e.g. "/proc/net/tcp6"). Returns its sockets; throws
// std::runtime_error naming the file when it cannot be read or a line is malformed.
std::vector<NetSocket> read_socket_table(const std::string& file, Protocol protocol, int family);

// Every TCP socket in LISTEN state and every UDP socket of this network namespace.
// Returns them in table order (tcp, tcp6, udp, udp6); throws std::runtime_error.
std::vector<NetSocket> bound_sockets();

// /proc/sys/net/ipv4/ip_local_port_range. Returns {first, last}; {32768, 60999} if unreadable.
std::pair<std::uint16_t, std::uint16_t> ephemeral_port_range();

}  // namespace bindguard::cli
