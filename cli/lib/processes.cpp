// Reading /proc/PID/{fd,exe,comm,cmdline,environ,maps}.
#include "processes.hpp"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "command_line.hpp"

namespace bindguard::cli {
namespace {

// The numeric entries of dir (e.g. pids in /proc, fds in /proc/PID/fd). Returns them
// sorted; empty when dir cannot be read.
std::vector<long> numeric_entries(const std::string& dir) {
    std::vector<long> numbers;
    DIR* handle = ::opendir(dir.c_str());
    if (handle == nullptr) return numbers;
    while (dirent* entry = ::readdir(handle)) {
        char* end = nullptr;
        long number = std::strtol(entry->d_name, &end, 10);
        if (end != entry->d_name && *end == '\0') numbers.push_back(number);
    }
    ::closedir(handle);
    std::sort(numbers.begin(), numbers.end());
    return numbers;
}

// readlink(2) as a string. Returns "" on failure.
std::string read_link(const std::string& path) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// The whole file. Returns "" when it cannot be read.
std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The NUL-separated entries of a /proc file such as cmdline or environ.
std::vector<std::string> nul_separated(const std::string& text) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\0', start);
        if (end == std::string::npos) end = text.size();
        parts.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

// The value of NAME in /proc/PID/environ. Returns nullopt when unset or unreadable.
std::optional<std::string> environment_value(const std::vector<std::string>& entries, const std::string& name) {
    for (const std::string& entry : entries)
        if (entry.starts_with(name + "=")) return entry.substr(name.size() + 1);
    return std::nullopt;
}

// True when entries look like an environment: at least one "NAME=VALUE" whose NAME is a
// plausible variable name. A title written over the area ("nginx: worker process", or
// only padding) is not one.
bool looks_like_environment(const std::vector<std::string>& entries) {
    for (const std::string& entry : entries) {
        std::size_t equals = entry.find('=');
        if (equals == 0 || equals == std::string::npos) continue;
        bool name_ok = true;
        for (std::size_t i = 0; i < equals; ++i) {
            char c = entry[i];
            name_ok = name_ok && (c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
        }
        if (name_ok) return true;
    }
    return false;
}

// The text of "socket:[INODE]". Returns 0 when link is not a socket.
std::uint64_t socket_inode(const std::string& link) {
    if (!link.starts_with("socket:[")) return 0;
    return std::strtoull(link.c_str() + 8, nullptr, 10);
}

}  // namespace

std::map<std::uint64_t, std::vector<pid_t>> socket_owners() {
    std::map<std::uint64_t, std::vector<pid_t>> owners;
    for (long pid : numeric_entries("/proc")) {
        std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
        for (long fd : numeric_entries(fd_dir)) {
            std::uint64_t inode = socket_inode(read_link(fd_dir + "/" + std::to_string(fd)));
            if (inode == 0) continue;
            std::vector<pid_t>& pids = owners[inode];
            if (pids.empty() || pids.back() != pid) pids.push_back(static_cast<pid_t>(pid));
        }
    }
    return owners;
}

ProcessInfo read_process(pid_t pid) {
    std::string dir = "/proc/" + std::to_string(pid);
    ProcessInfo info;
    info.pid = pid;
    info.program = read_link(dir + "/exe");
    if (info.program.ends_with(" (deleted)")) info.program.resize(info.program.size() - 10);
    info.name = slurp(dir + "/comm");
    if (!info.name.empty() && info.name.back() == '\n') info.name.pop_back();
    std::vector<std::string> args = nul_separated(slurp(dir + "/cmdline"));
    info.command = command_line(args);
    std::vector<std::string> environment = nul_separated(slurp(dir + "/environ"));
    info.environ_readable = looks_like_environment(environment);
    if (info.environ_readable) {
        info.policy_var = environment_value(environment, "BINDGUARD_POLICY");
        info.service_var = environment_value(environment, "BINDGUARD_SERVICE");
        info.service = info.service_var.value_or("");
    }
    read_process_stat(pid, info.parent, info.start_time);
    struct stat status{};
    if (::stat(dir.c_str(), &status) == 0) info.uid = status.st_uid;
    std::ifstream maps(dir + "/maps");
    if (maps) {
        std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
        info.has_library = text.find("/libbindguard.so") != std::string::npos;
    }
    return info;
}

bool read_process_stat(pid_t pid, pid_t& parent, unsigned long long& start_time) {
    // "PID (COMM) STATE PPID ..." - COMM may hold spaces and parentheses: parse after the last ')'.
    std::string text = slurp("/proc/" + std::to_string(pid) + "/stat");
    std::size_t close = text.rfind(')');
    if (close == std::string::npos) return false;
    std::vector<std::string> fields;  // fields[0] is STATE (field 3)
    std::size_t start = close + 2;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        if (end == std::string::npos) end = text.size();
        fields.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    if (fields.size() < 20) return false;
    parent = static_cast<pid_t>(std::strtol(fields[1].c_str(), nullptr, 10));
    start_time = std::strtoull(fields[19].c_str(), nullptr, 10);  // field 22
    return true;
}

}  // namespace bindguard::cli
