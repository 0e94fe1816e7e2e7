#include "launch.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "child_env.hpp"
#include "log.hpp"
#include "state.hpp"

namespace bindguard::shim {
namespace {

constexpr char kSystemPolicyPath[] = "/etc/bindguard/policy.toml";
// What BINDGUARD_POLICY becomes when its value could not be kept: no file can
// be there (/dev/null is not a directory), so every reader fails closed.
constexpr char kLostPolicyEntry[] = "BINDGUARD_POLICY=/dev/null/bindguard-policy-lost-at-start";

enum CaptureStatus : int { not_started, running, done };
std::atomic<int> capture_status{not_started};
LaunchFacts facts;  // written by the one capturing thread before `done` (release)

// Where the captured strings live, side by side (one page touched for the usual
// few hundred bytes). Bump allocation only (atomic: a thread that an earlier
// constructor started may capture while the constructor does); nothing is freed.
alignas(64) char arena[2 * 1024];
std::atomic<std::size_t> arena_used{0};

// Room for size bytes that live as long as the process: from the arena, else
// malloc (only for values larger than what is left). nullptr when out of memory.
BINDGUARD_LOAD_TIME char* keep_bytes(std::size_t size) noexcept {
    if (size <= sizeof arena) {
        const std::size_t start = arena_used.fetch_add(size, std::memory_order_relaxed);
        if (start <= sizeof arena - size) return arena + start;
    }
    return static_cast<char*>(std::malloc(size));
}

}  // namespace

BINDGUARD_LOAD_TIME const char* keep_joined(std::initializer_list<const char*> parts) noexcept {
    std::size_t size = 1;
    for (const char* part : parts) size += std::strlen(part);
    char* copy = keep_bytes(size);
    if (copy == nullptr) return nullptr;
    char* out = copy;
    for (const char* part : parts) {
        const std::size_t length = std::strlen(part);
        std::memcpy(out, part, length);
        out += length;
    }
    *out = '\0';
    return copy;
}

namespace {

// "NAME=" + the working directory + "/" + value, kept; nullptr when there is no
// working directory or no memory. Not inlined: its PATH_MAX buffer stays off
// the stack of the usual case, which runs in every process at load.
__attribute__((noinline)) const char* keep_absolute(const char* name_with_equals, const char* value) noexcept {
    char directory[PATH_MAX];
    if (getcwd(directory, sizeof directory) == nullptr) return nullptr;
    return keep_joined({name_with_equals, directory, "/", value});
}

// Rewrites the absolute path at path in its lexical normal form, in place: no "." or
// empty segments, ".." taken with the segment before it, no trailing '/' (as
// std::filesystem's lexically_normal(), which `bindguard compile` uses, so that both
// name one policy file by the same string: the key of its compiled image).
BINDGUARD_LOAD_TIME void normalize_in_place(char* path) noexcept {
    if (path[0] != '/') return;
    std::size_t out = 0;  // path[0, out) is the normal form so far, without a trailing '/'
    const char* in = path;
    while (*in != '\0') {
        while (*in == '/') ++in;
        const char* end = in;
        while (*end != '\0' && *end != '/') ++end;
        const std::size_t length = static_cast<std::size_t>(end - in);
        if (length == 1 && in[0] == '.') {
        } else if (length == 2 && in[0] == '.' && in[1] == '.') {
            while (out > 0 && path[out - 1] != '/') --out;
            if (out > 0) --out;
        } else if (length > 0) {
            path[out++] = '/';
            std::memmove(path + out, in, length);
            out += length;
        }
        in = end;
    }
    if (out == 0) path[out++] = '/';
    path[out] = '\0';
}

// "NAME=value" for name_with_equals as the process started with it; nullptr
// when unset or empty. Sets facts.lost when a set value cannot be kept.
BINDGUARD_LOAD_TIME const char* capture_entry(const char* name_with_equals, bool make_absolute) noexcept {
    char name[32];
    const std::size_t name_length = std::strlen(name_with_equals) - 1;
    std::memcpy(name, name_with_equals, name_length);
    name[name_length] = '\0';
    const char* value = secure_getenv(name);
    if (value == nullptr || value[0] == '\0') return nullptr;
    const char* entry = make_absolute && value[0] != '/' ? keep_absolute(name_with_equals, value)
                                                         : keep_joined({name_with_equals, value});
    if (entry == nullptr) facts.lost = true;
    // The arena's copy is ours to rewrite.
    else if (make_absolute) normalize_in_place(const_cast<char*>(entry) + std::strlen(name_with_equals));
    return entry;
}

// NUL-separated arguments (as in /proc/self/cmdline) joined by single spaces,
// in place: trailing NULs dropped, the others turned into spaces.
BINDGUARD_LOAD_TIME void join_in_place(char* text, std::size_t& length) noexcept {
    while (length > 0 && text[length - 1] == '\0') --length;
    for (std::size_t i = 0; i < length; ++i)
        if (text[i] == '\0') text[i] = ' ';
    text[length] = '\0';
}

// argv joined by single spaces, as /proc/self/cmdline would give it at this moment.
BINDGUARD_LOAD_TIME const char* join_arguments(int argc, char** argv) noexcept {
    std::size_t size = 1;
    for (int i = 0; i < argc && argv[i] != nullptr; ++i) size += std::strlen(argv[i]) + 1;
    char* command = keep_bytes(size);
    if (command == nullptr) return nullptr;
    std::size_t length = 0;
    for (int i = 0; i < argc && argv[i] != nullptr; ++i) {
        const std::size_t piece = std::strlen(argv[i]) + 1;
        std::memcpy(command + length, argv[i], piece);
        length += piece;
    }
    join_in_place(command, length);
    return command;
}

// The same from /proc/self/cmdline, for a capture that has no argv (a call that
// arrives before the constructor). Read whole into a malloc'd buffer (this is
// never the constructor's path).
__attribute__((noinline)) const char* read_command_line() noexcept {
    const int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return nullptr;
    std::size_t size = 4096, length = 0;
    char* buffer = static_cast<char*>(std::malloc(size));
    while (buffer != nullptr) {
        if (length + 1 == size) {
            char* bigger = static_cast<char*>(std::realloc(buffer, size * 2));
            if (bigger == nullptr) {
                std::free(buffer);
                buffer = nullptr;
                break;
            }
            buffer = bigger;
            size *= 2;
        }
        const ssize_t count = read(fd, buffer + length, size - 1 - length);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;
        length += static_cast<std::size_t>(count);
    }
    close(fd);
    if (buffer != nullptr) join_in_place(buffer, length);
    return buffer;
}

BINDGUARD_LOAD_TIME void capture(int argc, char** argv) noexcept {
    const int saved = errno;
    const bool lost_before = facts.lost;
    facts.policy_entry = capture_entry(kPolicyName, true);
    if (facts.lost && !lost_before) facts.policy_entry = kLostPolicyEntry;
    if (facts.policy_entry != nullptr) {
        facts.policy_file = facts.policy_entry + sizeof kPolicyName - 1;
    } else {
        struct stat status {};
        if (lstat(kSystemPolicyPath, &status) == 0 || errno != ENOENT) facts.policy_file = kSystemPolicyPath;
    }
    facts.service_entry = capture_entry(kServiceName, false);
#if defined(__SANITIZE_ADDRESS__)
    facts.sanitizer_options_entry = capture_entry(kSanitizerOptionsName, false);
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    facts.sanitizer_options_entry = capture_entry(kSanitizerOptionsName, false);
#endif
#endif
    const char* command = argv != nullptr ? join_arguments(argc, argv) : read_command_line();
    facts.command = command != nullptr ? command : "";
    if (command == nullptr && argv != nullptr) facts.lost = true;  // out of memory
    errno = saved;
}

const char* value_of(const char* entry, std::size_t prefix) noexcept {
    return entry != nullptr ? entry + prefix : "";
}

}  // namespace

const char* LaunchFacts::service() const noexcept { return value_of(service_entry, sizeof kServiceName - 1); }

BINDGUARD_LOAD_TIME void capture_launch_facts(int argc, char** argv) noexcept {
    int expected = not_started;
    if (capture_status.compare_exchange_strong(expected, running, std::memory_order_acq_rel)) {
        capture(argc, argv);
        capture_status.store(done, std::memory_order_release);
        return;
    }
    // Another thread is capturing (threads started by an earlier constructor): wait for it.
    while (capture_status.load(std::memory_order_acquire) != done) sched_yield();
}

void restart_capture_in_child() noexcept {
    int expected = running;
    capture_status.compare_exchange_strong(expected, not_started, std::memory_order_acq_rel);
}

const LaunchFacts& launch_facts() noexcept {
    if (capture_status.load(std::memory_order_acquire) != done) capture_launch_facts(0, nullptr);
    return facts;
}

namespace {
// The library's constructor: runs when the library is loaded, before the
// program's own code (glibc passes every ELF constructor the program's argc,
// argv and environment), in this order: stderr's identity (log.hpp), the launch
// facts, what the exec wrappers need (child_env.hpp), then the state (state.hpp:
// built now under a policy file, on first use under the built-in policy).
__attribute__((constructor)) void library_loaded(int argc, char** argv, char**) {
    record_stderr_identity();
    capture_launch_facts(argc, argv);
    capture_child_settings();
    prepare_state_at_load();
}
}  // namespace

}  // namespace bindguard::shim
