// Finding the preload library and proving that it loads.
#include "shim_locate.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace bindguard::cli {
namespace {

// realpath(3) as a string. Returns nullopt (errno set) when path cannot be resolved.
std::optional<std::string> canonical(const std::string& path) {
    char buf[PATH_MAX];
    if (::realpath(path.c_str(), buf) == nullptr) return std::nullopt;
    return std::string(buf);
}

// The directory of this executable, resolved. Returns "" when /proc/self/exe is unreadable.
std::string executable_dir() {
    auto exe = canonical("/proc/self/exe");
    if (!exe) return "";
    return exe->substr(0, exe->rfind('/'));
}

// Reads everything from fd until EOF. Returns the bytes read.
std::string read_all(int fd) {
    std::string text;
    char buf[512];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
            text.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            return text;
        }
    }
}

// In a forked child: dlopen(path) and report dlerror() on fd. Never returns.
[[noreturn]] void try_load_in_child(const std::string& path, int report_fd) {
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {  // the library's constructor may log; keep our output clean
        ::dup2(devnull, STDOUT_FILENO);
        ::dup2(devnull, STDERR_FILENO);
    }
    if (::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL) != nullptr) ::_exit(0);
    const char* error = ::dlerror();
    if (error == nullptr) error = "dlopen failed";
    [[maybe_unused]] ssize_t ignored = ::write(report_fd, error, std::strlen(error));
    ::_exit(1);
}

}  // namespace

ShimLocation locate_shim() {
    ShimLocation location;
    const char* from_env = ::getenv("BINDGUARD_SHIM");
    if (from_env != nullptr && *from_env != '\0') {
        location.path = from_env;
        location.from_env = true;
    } else {
        location.path = executable_dir() + "/" + BINDGUARD_SHIM_RELPATH;
    }
    auto resolved = canonical(location.path);
    if (!resolved) {
        location.problem = std::strerror(errno);
        return location;
    }
    struct stat st{};
    if (::stat(resolved->c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        location.problem = "not a regular file";
        return location;
    }
    location.path = *resolved;
    return location;
}

std::optional<std::string> shim_load_error(const std::string& path) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    pid_t child = ::fork();
    if (child < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return std::string("fork: ") + std::strerror(errno);
    }
    if (child == 0) {
        ::close(fds[0]);
        try_load_in_child(path, fds[1]);
    }
    ::close(fds[1]);
    std::string reason = read_all(fds[0]);
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
    if (WIFSIGNALED(status)) return "loading it killed the test process with signal " + std::to_string(WTERMSIG(status));
    return reason.empty() ? std::string("dlopen failed") : reason;
}

std::vector<std::string> preload_entries(const std::string& value) {
    std::vector<std::string> entries;
    std::string current;
    for (char c : value + ":") {
        if (c == ':' || c == ' ') {
            if (!current.empty()) entries.push_back(current);
            current.clear();
        } else {
            current += c;
        }
    }
    return entries;
}

bool is_same_shim(const std::string& entry, const std::string& shim) {
    auto basename = [](const std::string& path) { return path.substr(path.rfind('/') + 1); };
    if (basename(entry) == "libbindguard.so" || basename(entry) == basename(shim)) return true;
    char resolved[PATH_MAX];
    return ::realpath(entry.c_str(), resolved) != nullptr && shim == resolved;
}

std::string composed_preload(const std::string& shim, const std::optional<std::string>& existing) {
    std::string value = shim;
    for (const std::string& entry : preload_entries(existing.value_or("")))
        if (!is_same_shim(entry, shim)) value += ":" + entry;
    return value;
}

}  // namespace bindguard::cli
