// pid 1's listeners and their socket units (see socket_listeners.hpp).
#include "socket_listeners.hpp"

#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "processes.hpp"
#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

// The names of the active socket units systemd knows. Returns them (empty when systemctl fails).
std::vector<std::string> active_socket_units() {
    std::vector<std::string> names;
    FILE* pipe = ::popen("systemctl list-units --type=socket --state=active --no-legend --plain 2>/dev/null", "r");
    if (pipe == nullptr) return names;
    char line[1024];
    while (std::fgets(line, sizeof line, pipe) != nullptr) {
        std::string text = line;
        std::size_t start = text.find_first_not_of(" \t*●");
        if (start == std::string::npos) continue;
        std::string name = text.substr(start, text.find_first_of(" \t\n", start) - start);
        if (name.ends_with(".socket")) names.push_back(name);
    }
    ::pclose(pipe);
    return names;
}

// True when the line listens with this protocol on this port.
bool same_listener(const ListenLine& line, const NetSocket& socket) {
    return line.ip && line.protocol == socket.protocol && line.address.port == socket.local.port;
}

}  // namespace

std::vector<SocketUnit> known_socket_units(const std::string& root, bool use_systemctl) {
    std::set<std::string> names;
    if (use_systemctl) {
        for (const std::string& name : active_socket_units()) names.insert(name);
    } else {
        for (const std::string& dir : unit_search_path(root)) {
            std::error_code error;
            for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
                const std::string file = entry.path().filename();
                if (file.ends_with(".socket") && file.find('@') == std::string::npos) names.insert(file);
            }
        }
    }
    std::vector<SocketUnit> units;
    for (const std::string& name : names) {
        try {
            units.push_back(read_socket_unit(name, root));
        } catch (const std::runtime_error&) {
        }
    }
    return units;
}

const SocketUnit* socket_unit_of(const NetSocket& socket, const std::vector<SocketUnit>& units) {
    const SocketUnit* by_port = nullptr;
    for (const SocketUnit& unit : units) {
        for (const ListenLine& line : unit.listens) {
            if (!same_listener(line, socket)) continue;
            if (line.address.family == socket.local.family && line.address.bytes == socket.local.bytes) return &unit;
            if (by_port == nullptr) by_port = &unit;
        }
    }
    return by_port;
}

std::vector<std::string> public_listeners(const SocketUnit& unit, const Policy& policy, const std::string& service) {
    std::set<std::uint64_t> held;
    for (const auto& [inode, pids] : socket_owners())
        if (!pids.empty() && pids.front() == 1) held.insert(inode);
    std::vector<std::string> found;
    for (const NetSocket& socket : bound_sockets()) {
        if (!held.contains(socket.inode) || is_loopback(socket.local)) continue;
        if (socket.protocol == Protocol::tcp && !socket.listening()) continue;
        // Bound as the line says: the kernel twin would have moved it to loopback.
        bool ours = false;
        for (const ListenLine& line : unit.listens)
            ours = ours || (same_listener(line, socket) && line.address.family == socket.local.family &&
                            line.address.bytes == socket.local.bytes);
        if (!ours) continue;
        Request request;
        request.address = socket.local;
        request.protocol = socket.protocol;
        request.service = service;
        if (decide(policy, request).action == Action::allow) continue;
        char text[64];
        format_endpoint(socket.local, text, sizeof text);
        found.push_back(std::string(to_string(socket.protocol)) + " " + text);
    }
    return found;
}

}  // namespace bindguard::cli
