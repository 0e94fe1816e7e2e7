#include "log.hpp"

#include "launch.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bindguard::shim {
namespace {

// The lowest fd number for our own descriptors: high, so that a program that
// dup2()s onto small numbers does not collide with us.
constexpr int kPreferredLowestFd = 100;

// The identity of the file on fd 2 when the library started: fd 2 is written
// only while it still refers to that file. No duplicate is kept: a copy would
// hold the caller's pipe open in a daemon that points 0/1/2 at /dev/null, and
// whoever waits for that pipe's end (out=$(start 2>&1), ssh, a CI step) would
// wait for the daemon to exit. Written once during initialisation, then only read.
struct StderrIdentity {
    bool known = false;
    dev_t device = 0;
    ino_t inode = 0;
};
StderrIdentity stderr_identity;

// True when fd 2 is open and still refers to the file it did at start-up.
bool stderr_still_ours() noexcept {
    if (!stderr_identity.known) return false;
    struct stat status {};
    return fstat(STDERR_FILENO, &status) == 0 && status.st_dev == stderr_identity.device &&
           status.st_ino == stderr_identity.inode;
}

// The lowest fd number to use for our descriptors: kPreferredLowestFd, or less
// when RLIMIT_NOFILE is small.
int lowest_private_fd() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
        limit.rlim_cur <= static_cast<rlim_t>(kPreferredLowestFd) * 2) {
        const int half = static_cast<int>(limit.rlim_cur / 2);
        return half > 3 ? half : 3;
    }
    return kPreferredLowestFd;
}

// Moves fd to a high close-on-exec number and records what it refers to.
// Returns an empty OwnedFd (fd = -1) on failure, with errno set.
OwnedFd adopt_fd(int source, bool close_source) noexcept {
    OwnedFd owned;
    const int fd = fcntl(source, F_DUPFD_CLOEXEC, lowest_private_fd());
    const int saved = errno;
    if (close_source) close(source);
    if (fd < 0) {
        errno = saved;
        return owned;
    }
    struct stat status {};
    if (fstat(fd, &status) != 0) {
        const int error = errno;
        close(fd);
        errno = error;
        return owned;
    }
    owned.fd = fd;
    owned.device = status.st_dev;
    owned.inode = status.st_ino;
    return owned;
}

}  // namespace

bool OwnedFd::still_ours() const noexcept {
    if (fd < 0) return false;
    struct stat status {};
    return fstat(fd, &status) == 0 && status.st_dev == device && status.st_ino == inode;
}

BINDGUARD_LOAD_TIME void record_stderr_identity() noexcept {
    const int saved = errno;
    struct stat status {};
    if (!stderr_identity.known && fstat(STDERR_FILENO, &status) == 0) {
        stderr_identity.device = status.st_dev;
        stderr_identity.inode = status.st_ino;
        stderr_identity.known = true;
    }
    errno = saved;
}

void write_stderr_line(std::string_view message) noexcept {
    const int saved = errno;
    char storage[kLogMessageBudget + 64];
    LineBuffer line(storage, sizeof storage);
    line.add_prefix();
    line.add_text(message, kLogMessageBudget);
    line.terminate_line();
    if (stderr_still_ours()) write_line(STDERR_FILENO, line.data(), line.size());
    errno = saved;
}

template <class Line>
void Logger::describe_sink(Line& line) const noexcept {
    if (sink_ == LogSink::file) {
        line.add("log file ");
        line.add_text(sink_path_, kLogMessageBudget / 2);
    } else {
        line.add("syslog at ");
        line.add(kSyslogPath);
    }
}

void Logger::open(const LogTarget& target, Mode mode, const char* program, const char* service) noexcept {
    const int saved = errno;
    sink_ = target.to;
    format_ = target.format;
    level_ = target.level;
    mode_ = mode;
    program_ = program;
    service_ = service;
    rate_ = target.rate;
    sink_path_ = target.path != nullptr ? target.path : "";
    int fd = -1;
    const char* refusal = nullptr;  // why the sink is refused, when it is not an errno
    if (sink_ == LogSink::file) {
        fd = open_log_file(sink_path_, refusal);
    } else if (sink_ == LogSink::syslog) {
        fd = connect_syslog();
    } else {
        errno = saved;
        return;
    }
    if (fd >= 0) sink_fd_ = adopt_fd(fd, true);
    if (sink_fd_.fd < 0) {
        const int error = errno;
        sink_failed_.store(true);
        char storage[kLogMessageBudget];
        LineBuffer message(storage, sizeof storage);
        message.add(sink_ == LogSink::file ? "error: cannot open " : "error: cannot connect to ");
        describe_sink(message);
        message.add(": ");
        if (refusal != nullptr) message.add(refusal);
        else message.add(strerrordesc_np(error) ? strerrordesc_np(error) : "unknown error");
        message.add("; logging to stderr instead");
        write_stderr_line(std::string_view(message.data(), message.size()));
    }
    errno = saved;
}

bool Logger::admit(std::uint64_t& dropped) const noexcept {
    dropped = 0;
    if (rate_ == 0) return true;
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    const std::int64_t second = now.tv_sec;
    std::int64_t window = rate_window_.load(std::memory_order_relaxed);
    // The first caller in a new second starts a new window. Racing callers may
    // see a slightly wrong count around the boundary; a limit, not an account.
    if (window != second && rate_window_.compare_exchange_strong(window, second, std::memory_order_relaxed))
        rate_count_.store(0, std::memory_order_relaxed);
    if (rate_count_.fetch_add(1, std::memory_order_relaxed) < rate_) {
        dropped = rate_suppressed_.exchange(0, std::memory_order_relaxed);
        return true;
    }
    rate_suppressed_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

void Logger::log(const LogRecord& record) const noexcept {
    const LogLevel level = level_of(record.decision);
    if (!enabled(level) || record.request == nullptr) return;
    const int saved = errno;
    std::uint64_t dropped = 0;
    if (!admit(dropped)) {
        errno = saved;
        return;
    }
    const int priority = level == LogLevel::debug ? LOG_DEBUG : LOG_INFO;
    char storage[kLogLineCapacity];
    if (format_ == LogFormat::text && dropped > 0) {
        std::size_t body = 0;
        const std::size_t length = format_suppressed_line(0, dropped, storage, sizeof storage, body);
        emit(storage, length, body, LOG_WARNING);
    }
    const LogLineContext context{format_, mode_, program_, service_};
    std::size_t body = 0;
    const std::size_t length = format_log_line(context, record, dropped, storage, sizeof storage, body);
    if (length > 0) emit(storage, length, body, priority);
    errno = saved;
}

void Logger::write_to_stderr(const char* line, std::size_t length) noexcept {
    if (stderr_still_ours()) write_line(STDERR_FILENO, line, length);
}

void Logger::emit(const char* line, std::size_t length, std::size_t body_offset, int priority) const noexcept {
    switch (sink_) {
        case LogSink::none:
            return;
        case LogSink::stderr_sink:
            write_to_stderr(line, length);
            return;
        case LogSink::file:
        case LogSink::syslog:
            break;
    }
    if (!sink_failed_.load(std::memory_order_relaxed)) {
        int error = 0;
        const char* why = nullptr;
        if (!sink_fd_.still_ours()) why = "its file descriptor was closed or replaced by the program";
        else if ((error = sink_ == LogSink::file ? write_line(sink_fd_.fd, line, length)
                                                 : send_syslog(sink_fd_.fd, line, length, body_offset, priority)) == 0)
            return;
        // The first failure is announced once, then everything goes to stderr.
        if (!sink_failed_.exchange(true)) {
            char storage[kLogMessageBudget];
            LineBuffer message(storage, sizeof storage);
            message.add(sink_ == LogSink::file ? "error: cannot write " : "error: cannot send to ");
            describe_sink(message);
            message.add(": ");
            message.add(why != nullptr ? why : (strerrordesc_np(error) ? strerrordesc_np(error) : "unknown error"));
            message.add("; logging to stderr from now on");
            write_stderr_line(std::string_view(message.data(), message.size()));
        }
    }
    write_to_stderr(line, length);
}

}  // namespace bindguard::shim
