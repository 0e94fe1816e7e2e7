// Parsing /proc/net/{tcp,udp}{,6}. Addresses there are the kernel's 32-bit words printed in
// hex in host byte order; copying each word back in host order gives network byte order.
#include "procnet.hpp"

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bindguard::cli {
namespace {

// Parses "0100007F:0BB8" (or the 32-hex-digit IPv6 form) into an endpoint.
// Returns false when the text is malformed.
bool parse_hex_endpoint(const std::string& text, int family, Endpoint& out) {
    std::size_t colon = text.find(':');
    std::size_t words = family == AF_INET ? 1 : 4;
    if (colon != words * 8) return false;
    out.family = family;
    try {
        for (std::size_t i = 0; i < words; ++i) {
            auto word = static_cast<std::uint32_t>(std::stoul(text.substr(i * 8, 8), nullptr, 16));
            std::memcpy(out.bytes.data() + i * 4, &word, 4);
        }
        out.port = static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1), nullptr, 16));
    } catch (const std::exception&) {
        return false;
    }
    return true;
}

// Parses one data line of a /proc/net table. Returns false when it is malformed.
bool parse_socket_line(const std::string& line, Protocol protocol, int family, NetSocket& out) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> out.uid;
    unsigned long timeout = 0;
    fields >> timeout >> out.inode;
    if (!fields || !parse_hex_endpoint(local, family, out.local) || !parse_hex_endpoint(remote, family, out.remote))
        return false;
    out.protocol = protocol;
    try {
        out.state = static_cast<int>(std::stoul(state, nullptr, 16));
    } catch (const std::exception&) {
        return false;
    }
    return true;
}

}  // namespace

std::vector<NetSocket> read_socket_table(const std::string& file, Protocol protocol, int family) {
    std::ifstream in(file);
    if (!in) throw std::runtime_error(file + ": cannot be read: " + std::strerror(errno));
    std::vector<NetSocket> sockets;
    std::string line;
    std::getline(in, line);  // the header
    for (int number = 2; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        NetSocket socket;
        if (!parse_socket_line(line, protocol, family, socket))
            throw std::runtime_error(file + ":" + std::to_string(number) + ": unexpected line: " + line);
        sockets.push_back(socket);
    }
    return sockets;
}

std::vector<NetSocket> bound_sockets() {
    struct Table {
        const char* file;
        Protocol protocol;
        int family;
    };
    const Table tables[] = {{"/proc/net/tcp", Protocol::tcp, AF_INET},
                            {"/proc/net/tcp6", Protocol::tcp, AF_INET6},
                            {"/proc/net/udp", Protocol::udp, AF_INET},
                            {"/proc/net/udp6", Protocol::udp, AF_INET6}};
    std::vector<NetSocket> result;
    for (const Table& table : tables) {
        // tcp6/udp6 are absent when IPv6 is disabled: nothing bound there then.
        if (table.family == AF_INET6 && !std::ifstream(table.file)) continue;
        for (const NetSocket& socket : read_socket_table(table.file, table.protocol, table.family))
            if (socket.protocol == Protocol::udp || socket.listening()) result.push_back(socket);
    }
    return result;
}

std::pair<std::uint16_t, std::uint16_t> ephemeral_port_range() {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    unsigned first = 0, last = 0;
    if (!(in >> first >> last) || first > last || last > 65535) return {32768, 60999};
    return {static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last)};
}

}  // namespace bindguard::cli
