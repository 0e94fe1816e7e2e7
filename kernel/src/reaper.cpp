// The reaper and log relay: a small detached process per protected cgroup. It writes the
// cgroup's decisions, read from the cgroup's ring buffer, to the policy's log sink, and
// removes the cgroup and its rule set once the program has joined it and every process
// in it has exited. It lives outside the cgroup, so it never keeps it populated.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "bindguard/event_line.hpp"
#include "bindguard/kernel.hpp"
#include "bindguard/log_line.hpp"

namespace bindguard::kernel {
namespace {

// Writes the relayed lines to the policy's sink, at most log.rate per second, with the
// library's sink rules (bindguard/log_line.hpp): the log file opened 0640 and only when it
// is a regular file (a FIFO is refused without blocking), syslog at /dev/log with the
// facility daemon, stderr only while the descriptor is the command's fd 2 of start-up. A
// file or syslog sink that cannot be opened or written falls back to stderr for good,
// announced by one error line.
class Relay {
public:
    Relay(const RelaySettings& settings) : settings_(settings), sink_(settings.policy.log.to) {
        const LogSettings& log = settings_.policy.log;
        const char* refusal = nullptr;
        if (sink_ == LogSink::file) sink_fd_ = open_log_file(log.path.c_str(), refusal);
        else if (sink_ == LogSink::syslog) sink_fd_ = connect_syslog();
        else return;
        if (sink_fd_ < 0) {
            const int error = errno;
            fail(sink_ == LogSink::file ? "cannot open" : "cannot connect to",
                 refusal != nullptr ? refusal : std::strerror(error), "instead");
        }
    }
    ~Relay() {
        if (sink_fd_ >= 0) ::close(sink_fd_);
    }
    Relay(const Relay&) = delete;
    Relay& operator=(const Relay&) = delete;

    // Writes a line for the decisions of the cgroup id that its full ring buffer dropped
    // since the last such line (the rule set's count, in the pinned map_policies). Looks at
    // most once a second unless now is true (the end: whatever is left is reported).
    void report_lost(int policies, std::uint64_t id, bool now = false) {
        const std::time_t second = std::time(nullptr);
        if (policies < 0 || (!now && second == lost_checked_)) return;
        lost_checked_ = second;
        auto rules = std::make_unique<bg_policy>();
        if (bpf_map_lookup_elem(policies, &id, rules.get()) != 0) return;
        if (rules->dropped < lost_reported_) lost_reported_ = 0;  // a new rule set (attached again)
        if (rules->dropped == lost_reported_) return;
        char line[kLogLineCapacity];
        std::size_t body = 0;
        const std::size_t length = format_lost_line(rules->dropped - lost_reported_, settings_.policy.log.format,
                                                    settings_.service.c_str(), line, sizeof line, body);
        // The syslog datagram gets the relay's own tag: the text after "bindguard: ".
        emit(line, length, body, LOG_WARNING, 0, true);
        lost_reported_ = rules->dropped;
    }

    // The ring buffer callback. Returns 0 (go on).
    static int on_event(void* self, void* data, std::size_t size) {
        if (size >= sizeof(bg_event)) static_cast<Relay*>(self)->write(*static_cast<const bg_event*>(data));
        return 0;
    }

private:
    void write(const bg_event& event) {
        const LogSettings& log = settings_.policy.log;
        const std::time_t now = std::time(nullptr);
        if (now != window_) {
            window_ = now;
            in_window_ = 0;
        }
        if (log.rate != 0 && ++in_window_ > log.rate) {
            ++suppressed_;
            return;
        }
        char line[kLogLineCapacity];
        std::size_t body = 0;
        if (suppressed_ > 0 && log.format == LogFormat::text) {
            const std::size_t length = format_suppressed_line(event.pid, suppressed_, line, sizeof line, body);
            emit(line, length, body, LOG_WARNING, event.pid);
        }
        const std::string rule = rule_name(settings_.policy, event.rule);
        const std::string program = program_of(event);
        const std::size_t length = format_event_line(event, rule.c_str(), log.format, settings_.policy.mode,
                                                     program.c_str(), settings_.service.c_str(), suppressed_, line,
                                                     sizeof line, body);
        emit(line, length, body, event.action == BG_ACTION_ALLOW ? LOG_DEBUG : LOG_INFO, event.pid);
        suppressed_ = 0;
    }

    // The binding process's executable. A process that has already exited is named by
    // the program that was run when its name (comm, 15 characters) is that program's,
    // else by its name in brackets ("[bg-bindtest-sta]").
    std::string program_of(const bg_event& event) const {
        char target[4096];
        const std::string link = "/proc/" + std::to_string(event.pid) + "/exe";
        ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
        if (n > 0) return std::string(target, static_cast<std::size_t>(n));
        const std::string comm(event.comm, strnlen(event.comm, sizeof event.comm));
        const std::string base = settings_.program.substr(settings_.program.rfind('/') + 1);
        if (!comm.empty() && base.starts_with(comm)) return settings_.program;
        return "[" + comm + "]";
    }

    // Writes a finished line (ending in '\n'); body is where the text after the line's
    // tag starts, pid the pid the tag names (for a JSON line's syslog tag); own_tag: the
    // line's tag is not "bindguard[PID]: " (the lost line), so syslog gets the body with
    // the relay's tag.
    void emit(const char* line, std::size_t length, std::size_t body, int priority, std::uint32_t pid,
              bool own_tag = false) {
        if (length == 0 || sink_ == LogSink::none) return;
        if (sink_ != LogSink::stderr_sink && !failed_) {
            const int error = sink_ == LogSink::file
                                  ? write_line(sink_fd_, line, length)
                                  : (own_tag ? send_syslog(sink_fd_, line + body, length - body, 0, priority)
                                             : send_syslog(sink_fd_, line, length, body, priority, pid));
            if (error == 0) return;
            fail(sink_ == LogSink::file ? "cannot write" : "cannot send to", std::strerror(error), "from now on");
        }
        write_stderr(line, length);
    }

    // The sink is given up for stderr: one error line says so.
    void fail(const char* what, const char* why, const char* when) {
        failed_ = true;
        const LogSettings& log = settings_.policy.log;
        char storage[kLogMessageBudget + 64];
        LineBuffer message(storage, sizeof storage);
        message.add("bindguard: error: ");
        message.add(what);
        if (sink_ == LogSink::file) {
            message.add(" the log file ");
            message.add_text(log.path, kLogMessageBudget / 2);
        } else {
            message.add(" syslog at ");
            message.add(kSyslogPath);
        }
        message.add(": ");
        message.add(why);
        message.add("; logging the kernel's decisions to stderr ");
        message.add(when);
        message.terminate_line();
        write_stderr(message.data(), message.size());
    }

    void write_stderr(const char* line, std::size_t length) const {
        if (settings_.stderr_fd < 0) return;
        struct stat status {};
        if (::fstat(settings_.stderr_fd, &status) != 0 || status.st_dev != settings_.stderr_device ||
            status.st_ino != settings_.stderr_inode)
            return;
        (void)write_line(settings_.stderr_fd, line, length);
    }

    const RelaySettings& settings_;
    LogSink sink_;
    int sink_fd_ = -1;
    bool failed_ = false;
    std::time_t window_ = 0;
    std::uint32_t in_window_ = 0;
    std::uint64_t suppressed_ = 0;
    std::time_t lost_checked_ = 0;
    std::uint64_t lost_reported_ = 0;
};

// Relays events until the cgroup at path is empty (cgroup.events says "populated 0"):
// woken by the ring buffer, by the kernel's notification on cgroup.events, and by a 1 s
// poll as a backstop. Then takes what is left in the ring buffer.
void relay_until_empty(const std::string& path, ring_buffer* ring, Relay& relay, int policies, std::uint64_t id) {
    const std::string events = path + "/cgroup.events";
    int fd = ::open(events.c_str(), O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && cgroup_populated(path)) {
        char buffer[256];
        (void)!::pread(fd, buffer, sizeof buffer, 0);  // arms the notification
        if (!cgroup_populated(path)) break;
        pollfd fds[2] = {{fd, POLLPRI, 0}, {ring != nullptr ? ring_buffer__epoll_fd(ring) : -1, POLLIN, 0}};
        ::poll(fds, 2, 1000);
        if (ring != nullptr) ring_buffer__consume(ring);
        relay.report_lost(policies, id);
    }
    if (fd >= 0) ::close(fd);
    if (ring != nullptr) ring_buffer__consume(ring);
    relay.report_lost(policies, id, true);
}

// The reaper's whole life. Never returns.
[[noreturn]] void reap(int joined, const std::string& cgroup, std::uint64_t id, const std::string& pin_dir,
                       const RelaySettings& settings) {
    Relay relay(settings);
    ring_buffer* ring = settings.ring >= 0 ? ring_buffer__new(settings.ring, Relay::on_event, &relay, nullptr) : nullptr;
    const int policies = bpf_obj_get((pin_dir + "/map_policies").c_str());
    char byte;
    while (::read(joined, &byte, 1) < 0 && errno == EINTR) {
    }
    ::close(joined);
    for (int attempt = 0; attempt < 600; ++attempt) {  // a program that keeps making sub-cgroups: give up after ~10 min
        relay_until_empty(cgroup, ring, relay, ring != nullptr ? policies : -1, id);
        if (remove_cgroup(cgroup)) break;
        ::sleep(1);
    }
    if (cgroup_gone(id)) {
        int rings = bpf_obj_get((pin_dir + "/map_rings").c_str());
        if (policies >= 0) bpf_map_delete_elem(policies, &id);
        if (rings >= 0) bpf_map_delete_elem(rings, &id);
    }
    ::_exit(0);
}

// The kernel's id of the map behind fd; 0 when it cannot be read.
std::uint32_t map_id(int fd) {
    bpf_map_info info{};
    std::uint32_t size = sizeof info;
    return bpf_obj_get_info_by_fd(fd, &info, &size) == 0 ? info.id : 0;
}

// The relay of a cgroup someone else owns: relays while its ring is the one registered
// for the cgroup id (`kernel detach` removes it, a new `kernel attach` replaces it) and
// the cgroup exists; then takes what is left, and removes its own cgroup own (moving to
// the root cgroup first, so that the subtree can be removed as soon as it has ended).
// Never returns.
[[noreturn]] void relay_while_attached(const std::string& own_cgroup, std::uint64_t id, const std::string& pin_dir,
                                       const RelaySettings& settings) {
    Relay relay(settings);
    ring_buffer* ring = ring_buffer__new(settings.ring, Relay::on_event, &relay, nullptr);
    const std::uint32_t own = map_id(settings.ring);
    const int rings = bpf_obj_get((pin_dir + "/map_rings").c_str());
    const int policies = bpf_obj_get((pin_dir + "/map_policies").c_str());
    auto registered = [&] {
        std::uint32_t current = 0;
        return bpf_map_lookup_elem(rings, &id, &current) == 0 && current == own;
    };
    while (ring != nullptr && rings >= 0 && own != 0 && registered() && !cgroup_gone(id)) {
        ring_buffer__poll(ring, 1000);
        relay.report_lost(policies, id);
    }
    if (ring != nullptr) ring_buffer__consume(ring);
    relay.report_lost(policies, id, true);
    if (rings >= 0 && registered() && cgroup_gone(id)) {  // the unit's cgroup went without a detach
        if (policies >= 0) bpf_map_delete_elem(policies, &id);
        bpf_map_delete_elem(rings, &id);
    }
    try {
        join_cgroup(cgroup2_mount());
        remove_cgroup(own_cgroup);
    } catch (const KernelError&) {
        // Left to sweep() (relay-PID with PID gone).
    }
    ::_exit(0);
}

// Closes every descriptor from 3 up except those in keep.
void close_all_but(std::vector<int> keep) {
    std::sort(keep.begin(), keep.end());
    unsigned next = 3;
    for (int fd : keep) {
        if (fd < static_cast<int>(next)) continue;
        if (static_cast<unsigned>(fd) > next) ::close_range(next, static_cast<unsigned>(fd) - 1, 0);
        next = static_cast<unsigned>(fd) + 1;
    }
    ::close_range(next, ~0u, 0);
}

// Runs body(channel) in a detached process: a new session, orphaned at once (through a
// middle process that exits) so that it is nobody's child, SIGPIPE ignored (a reader of
// the log that went away must not end it). body gets its end of a socket pair and must
// not return. Returns the caller's end (a socket pair rather than a pipe: the caller
// writes with MSG_NOSIGNAL, so a helper that died cannot end it with SIGPIPE); throws
// KernelError naming what when the helper cannot be started.
template <typename Body>
int start_detached(const std::string& what, Body body) {
    int channel[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0)
        throw KernelError("cannot make a socket pair for the " + what + ": " + std::strerror(errno));
    pid_t middle = ::fork();
    if (middle < 0) {
        int error = errno;
        ::close(channel[0]);
        ::close(channel[1]);
        throw KernelError("cannot start the " + what + ": " + std::strerror(error));
    }
    if (middle == 0) {
        ::setsid();
        pid_t child = ::fork();
        if (child != 0) ::_exit(child < 0 ? 1 : 0);
        ::signal(SIGPIPE, SIG_IGN);
        ::close(channel[1]);
        body(channel[0]);
        ::_exit(1);
    }
    ::close(channel[0]);
    int status = 0;
    while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ::close(channel[1]);
        throw KernelError("cannot start the " + what + " (fork failed)");
    }
    return channel[1];
}

// The detached helper's settings, with its own copy of the log's stderr; its standard
// streams on /dev/null and every descriptor closed but keep and those of the settings.
RelaySettings detach_descriptors(const RelaySettings& relay, std::vector<int> keep) {
    RelaySettings settings = relay;
    // The command's fd 2 as it is now, the start-up's: the copy is written only while it
    // is that file (and never when fd 2 was closed).
    struct stat status {};
    if (settings.stderr_fd >= 0 && ::fstat(settings.stderr_fd, &status) == 0) {
        settings.stderr_device = status.st_dev;
        settings.stderr_inode = status.st_ino;
        settings.stderr_fd = ::fcntl(settings.stderr_fd, F_DUPFD_CLOEXEC, 3);
    } else {
        settings.stderr_fd = -1;
    }
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
    }
    keep.push_back(settings.ring);
    keep.push_back(settings.stderr_fd);
    close_all_but(std::move(keep));
    return settings;
}

}  // namespace

int start_reaper(const std::string& cgroup, std::uint64_t id, const std::string& pin_dir,
                 const RelaySettings& relay) {
    // The reaper's claim on the cgroup (see reaper_holds()): a shared lock on the cgroup's
    // directory, taken here so that it exists before the program can run, and held by the
    // reaper alone (this process's descriptor is closed below and at exec).
    int claim = ::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (claim >= 0 && ::flock(claim, LOCK_SH) != 0) {
        ::close(claim);
        claim = -1;
    }
    try {
        const int channel = start_detached("cgroup reaper", [&](int helper_end) {
            reap(helper_end, cgroup, id, pin_dir, detach_descriptors(relay, {helper_end, claim}));
        });
        if (claim >= 0) ::close(claim);
        return channel;
    } catch (...) {
        if (claim >= 0) ::close(claim);
        throw;
    }
}

bool reaper_holds(const std::string& cgroup) {
    int fd = ::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    ::close(fd);  // also releases the lock when it was taken
    return held;
}

void start_relay(const std::string& subtree, std::uint64_t id, const std::string& pin_dir,
                 const RelaySettings& relay) {
    if (relay.ring < 0) return;
    const int channel = start_detached("log relay", [&](int helper_end) {
        // Out of the caller's cgroup first: the answer is "ok" or the reason it could not.
        std::string answer = "ok", own;
        try {
            own = make_cgroup(subtree, CgroupKind::relay);
            join_cgroup(own);
        } catch (const KernelError& error) {
            answer = error.what();
        }
        (void)!::send(helper_end, answer.data(), answer.size(), MSG_NOSIGNAL);
        if (answer != "ok") ::_exit(1);
        ::close(helper_end);
        relay_while_attached(own, id, pin_dir, detach_descriptors(relay, {}));
    });
    std::string answer;
    char buffer[512];
    for (ssize_t n; (n = ::read(channel, buffer, sizeof buffer)) != 0;) {
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        answer.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(channel);
    if (answer != "ok")
        throw KernelError("the log relay cannot leave this cgroup: " + (answer.empty() ? std::string("it ended") : answer));
}

}  // namespace bindguard::kernel
