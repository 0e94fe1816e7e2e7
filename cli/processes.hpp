// Which process owns a socket, and what bindguard needs to know about that process.
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#pragma once

namespace bindguard::cli {

struct ProcessInfo {
    pid_t pid = 0;
    std::string program;  // resolved /proc/PID/exe; "" when unreadable
    std::string name;     // /proc/PID/comm
    std::string command;  // /proc/PID/cmdline, arguments joined by single spaces
    std::string service;  // BINDGUARD_SERVICE from /proc/PID/environ
    std::optional<bool> has_library;  // /proc/PID/maps mentions libbindguard.so; nullopt when unreadable
    std::optional<bool> in_kernel_cgroup;  // in a cgroup the kernel twin protects; nullopt when unknown
};

// Socket inode -> the pids holding it, from the links /proc/*/fd/* = "socket:[INODE]".
// Processes whose fds cannot be read (other users, without root) are skipped.
// Returns the map; each pid list is in ascending order.
std::map<std::uint64_t, std::vector<pid_t>> socket_owners();

// Reads what is readable about pid. Returns it (fields left empty when unreadable).
ProcessInfo read_process(pid_t pid);

}  // namespace bindguard::cli
