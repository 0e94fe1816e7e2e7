// Logging of the shim: one line per decision, built in a stack buffer and written
// with a single write(). Nothing here allocates or locks after Logger::open().
//
// Sinks:
//  - stderr: fd 2 itself, written only while it refers to the file it did at
//    start-up: its (st_dev, st_ino) is remembered and checked with fstat() before
//    every write, so a line is dropped, never written, when the program has
//    closed fd 2 or pointed it somewhere else (a daemon's /dev/null, its own
//    file). No duplicate is kept (it would hold the caller's pipe open).
//  - file:   log.path opened O_APPEND|O_CREAT (0640) at start-up (several
//    processes can share it; one write() per line keeps lines whole), also at a
//    high number and checked the same way.
//  - syslog: our own AF_UNIX datagram socket connected to /dev/log at start-up
//    (high number, checked the same way), one send() per line in the classic
//    format "<PRI>bindguard[PID]: ..." with facility daemon. glibc's syslog() is
//    not used: it keeps its socket at a low fd number that the program may
//    close and reuse (it would then write our line into the program's file or
//    socket), and it takes a lock and may allocate on every call.
//  - none.
// A file or syslog sink that fails (cannot be opened, a write fails, the fd was
// replaced, log.path is not a regular file) falls back to stderr for good, announced by one error line.
//
// Rate limit: log.rate lines per second per process (0 = unlimited), counted
// with atomics. Text: the first line after suppressed lines is preceded by a
// separate line "bindguard[PID]: suppressed N log lines". JSON: that line
// carries the field "suppressed": N.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "bindguard/log_line.hpp"
#include "bindguard/policy.hpp"

namespace bindguard::shim {

// A file descriptor of ours and the identity of the file it referred to when
// we opened it.
struct OwnedFd {
    int fd = -1;
    dev_t device = 0;
    ino_t inode = 0;

    // True when fd is open and still refers to the same file (fstat).
    bool still_ours() const noexcept;
};

// Records the identity (st_dev, st_ino) of the file on fd 2 (once, when the
// library is loaded, before the program can close or reuse fd 2). Nothing is ever written to stderr
// if fd 2 is closed then.
void record_stderr_identity() noexcept;

// Writes "bindguard[PID]: " + message + "\n" to fd 2 with one write(), if fd 2 still
// refers to the file it did at start-up
// (truncated to a few KiB). Used for initialisation errors and policy
// diagnostics, which always go to stderr whatever log.to says. errno is kept.
void write_stderr_line(std::string_view message) noexcept;

// LogRecord, LogLineContext, level_of() and format_log_line(): bindguard/log_line.hpp.

// The [log] settings of a policy, as the compiled image holds them.
struct LogTarget {
    LogSink to = LogSink::stderr_sink;
    const char* path = "";  // for to == file
    LogFormat format = LogFormat::text;
    LogLevel level = LogLevel::info;
    std::uint32_t rate = 50;
};

class Logger {
public:
    // Opens the sink described by target. Runs once during initialisation: does I/O,
    // never allocates. target.path, program and service must outlive the Logger (they
    // live in the mapped image and the never-destroyed process state). Never throws.
    void open(const LogTarget& target, Mode mode, const char* program, const char* service) noexcept;

    // True when a line of this level would be written (before the rate limit).
    bool enabled(LogLevel level) const noexcept { return level <= level_ && sink_ != LogSink::none; }

    // Logs one decision (if its level is enabled and the rate allows). errno is kept.
    void log(const LogRecord& record) const noexcept;

private:
    // Writes a finished line (ending in '\n') to the sink; body is the part after
    // the "bindguard[PID]: " prefix, used for syslog, which adds its own prefix.
    void emit(const char* line, std::size_t length, std::size_t body_offset, int priority) const noexcept;
    // One write() of a whole line to fd 2, if it still refers to the file it did at start-up.
    static void write_to_stderr(const char* line, std::size_t length) noexcept;
    // Admits a line under log.rate; dropped receives the count of lines
    // suppressed since the last admitted one.
    bool admit(std::uint64_t& dropped) const noexcept;

    LogSink sink_ = LogSink::none;
    LogFormat format_ = LogFormat::text;
    LogLevel level_ = LogLevel::info;
    Mode mode_ = Mode::enforce;
    const char* program_ = "";
    const char* service_ = "";
    // Appends "log file PATH" or "syslog at /dev/log" (for error lines) to a line.
    template <class Line>
    void describe_sink(Line& line) const noexcept;
    const char* sink_path_ = "";    // log.path, for error lines
    OwnedFd sink_fd_;               // the file or the syslog socket

    // The only parts that change after initialisation (all atomics, no locks).
    mutable std::atomic<bool> sink_failed_{false};
    std::uint32_t rate_ = 0;
    mutable std::atomic<std::int64_t> rate_window_{-1};
    mutable std::atomic<std::uint32_t> rate_count_{0};
    mutable std::atomic<std::uint64_t> rate_suppressed_{0};
};

}  // namespace bindguard::shim
