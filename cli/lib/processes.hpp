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

    // The environment as the kernel shows it. Programs such as nginx, Redis and PostgreSQL
    // write their process title over it (setproctitle), after the library has read it.
    bool environ_readable = false;          // /proc/PID/environ holds at least one NAME=VALUE entry
    std::optional<std::string> policy_var;  // BINDGUARD_POLICY, when set
    std::optional<std::string> service_var; // BINDGUARD_SERVICE, when set
    pid_t parent = 0;                       // from /proc/PID/stat; 0 when unreadable
    unsigned long long start_time = 0;      // field 22 of /proc/PID/stat (clock ticks after boot)
    uid_t uid = static_cast<uid_t>(-1);     // the owner of /proc/PID (the real uid)
    std::optional<bool> in_kernel_cgroup;  // in a cgroup the kernel twin protects; nullopt when unknown
};

// Socket inode -> the pids holding it, from the links /proc/*/fd/* = "socket:[INODE]".
// Processes whose fds cannot be read (other users, without root) are skipped.
// Returns the map; each pid list is in ascending order.
std::map<std::uint64_t, std::vector<pid_t>> socket_owners();

// Reads what is readable about pid. Returns it (fields left empty when unreadable).
ProcessInfo read_process(pid_t pid);

// The parent pid and start time of pid from /proc/PID/stat. Returns false when unreadable.
bool read_process_stat(pid_t pid, pid_t& parent, unsigned long long& start_time);

}  // namespace bindguard::cli
