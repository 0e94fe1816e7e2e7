// The log line of a decision, and the rules of its sinks: one writer for the preload
// library (shim/) and the kernel twin's relay (kernel/), so that both write the same
// line for the same decision (the kernel's with call=kernel).
//
// Part of the freestanding core (bindguard_policy_core): nothing here allocates, throws
// or locks; the lines are built in the caller's buffer.
//
// Text: "bindguard[PID]: ACTION PROTO REQUESTED [-> RESULT] rule=R program=P service=S
// [call=C] [note=N]". Field values are escaped so that each is one token that reads
// back to exactly its bytes: space, '"', '\\', '=', control characters, DEL and every
// byte >= 0x80 as \xNN; an empty value is "-" and a value that is just "-" is "\x2d".
// JSON: one object per line; control characters and bytes that are not valid UTF-8 as
// \u00XX. Every variable part has its own budget, so that with kLogLineCapacity bytes a
// line is never cut and a JSON line is always complete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "bindguard/policy.hpp"

namespace bindguard {

// Room for one line.
inline constexpr std::size_t kLogLineCapacity = 8192;
inline constexpr std::size_t kLogProgramBudget = 2048;  // bytes of output for the program path
inline constexpr std::size_t kLogNameBudget = 512;      // service, rule name, call, note
inline constexpr std::size_t kLogMessageBudget = 4096;  // error messages, diagnostics

// A character buffer in the caller's storage that never overflows: appends beyond the
// capacity (less one byte kept for the final '\n') are dropped. capacity >= 1.
class LineBuffer {
public:
    LineBuffer(char* data, std::size_t capacity) noexcept : data_(data), capacity_(capacity - 1) {}

    std::size_t size() const noexcept { return size_; }
    const char* data() const noexcept { return data_; }
    std::size_t room() const noexcept { return capacity_ - size_; }

    void add(char c) noexcept {
        if (size_ < capacity_) data_[size_++] = c;
    }
    void add(std::string_view text) noexcept {
        for (char c : text) add(c);
    }
    void add_unsigned(std::uint64_t value, int min_digits = 1) noexcept;
    void add_signed(std::int64_t value) noexcept;
    // Free text (messages): control characters and DEL as \xNN, so that one line stays
    // one line; at most budget bytes.
    void add_text(std::string_view text, std::size_t budget) noexcept;
    // A text line's field value (see above); at most budget bytes of output, cut at a
    // byte boundary.
    void add_field(std::string_view text, std::size_t budget) noexcept;
    // A complete JSON string (quotes included); cut at a character boundary so that it
    // stays valid JSON. Needs 2 bytes of room for the quotes.
    void add_json_string(std::string_view text, std::size_t budget) noexcept;
    // "EADDRINUSE" etc., or "errno N" when glibc has no name for it.
    void add_errno_name(int error) noexcept;
    // RFC 3339 UTC with milliseconds, now (no lock: not gmtime_r).
    void add_timestamp() noexcept;
    // "bindguard[PID]: " (pid 0: this process's, read now).
    void add_prefix(std::uint32_t pid = 0) noexcept;
    // Adds the '\n' (the byte kept in reserve).
    void terminate_line() noexcept { data_[size_++] = '\n'; }

private:
    void add_hex_byte(unsigned char c) noexcept;

    char* data_;
    std::size_t capacity_;
    std::size_t size_ = 0;
};

// Everything a decision line says about the call.
struct LogRecord {
    const char* call = "bind";             // "bind", "listen", "kernel", ...; "bind" is not written in text
    const Request* request = nullptr;      // what was asked
    Decision decision;                     // what was enforced (for audit: what would be)
    bool audit = false;                    // mode = "audit": actions read would-*
    int error = 0;                         // errno of the call as the program sees it, 0 on success
    const Endpoint* bound = nullptr;       // the socket's address after the call, if known
    const char* note = nullptr;            // a fact the action alone hides ("already-listening"), or nullptr
    bool confined = false;                 // a listener confined to the loopback device (the kernel's
                                           // listen rewrite): the result reads "0.0.0.0%lo:PORT"
};

// The level a decision line is logged at: debug for allow, info otherwise.
LogLevel level_of(const Decision& decision) noexcept;

// What a decision line says besides the record: the format and the process facts.
struct LogLineContext {
    LogFormat format = LogFormat::text;
    Mode mode = Mode::enforce;
    const char* program = "";  // "" or nullptr: unknown (text "-")
    const char* service = "";  // "" or nullptr: unset (text "-")
    std::uint32_t pid = 0;     // the process that called; 0: this one (getpid())
};

// Formats the decision line of record (text or JSON, ending in '\n'; a JSON line
// carries "suppressed": dropped when dropped > 0, a text line ignores it) into out.
// Returns its length (0 when record has no request or capacity < 2); body_offset
// receives where the text after "bindguard[PID]: " starts (0 for JSON).
std::size_t format_log_line(const LogLineContext& context, const LogRecord& record, std::uint64_t dropped, char* out,
                            std::size_t capacity, std::size_t& body_offset) noexcept;

// "bindguard[PID]: suppressed N log lines\n", the text line that goes before the first
// line after lines that log.rate held back. Returns its length; body_offset as above.
std::size_t format_suppressed_line(std::uint32_t pid, std::uint64_t dropped, char* out, std::size_t capacity,
                                   std::size_t& body_offset) noexcept;

// ---- the sinks -----------------------------------------------------------------------

// The syslog socket's path, and the facility of every line (daemon).
inline constexpr const char* kSyslogPath = "/dev/log";

// Opens log.path for appending, created 0640. Only a regular file is accepted: a FIFO
// would block until a reader comes (it is opened O_NONBLOCK so that the check itself
// cannot hang; the flag is cleared once it is known to be a regular file), a device or
// socket is not a log file. Returns the fd (close-on-exec), or -1 with errno set, or -1
// with refusal set to the reason.
int open_log_file(const char* path, const char*& refusal) noexcept;

// An AF_UNIX datagram socket connected to kSyslogPath (close-on-exec), or -1 with errno set.
int connect_syslog() noexcept;

// One write() of the whole line (retried on EINTR). Returns 0 or the errno.
int write_line(int fd, const char* data, std::size_t length) noexcept;

// One datagram "<PRI>bindguard[PID]: BODY" (facility daemon) to a connected syslog
// socket: the line without its newline; a text line already starts with the prefix
// (body_offset > 0), a JSON line (body_offset 0) gets it here, with pid (0: this
// process's). Returns 0 or the errno.
int send_syslog(int fd, const char* line, std::size_t length, std::size_t body_offset, int severity,
                std::uint32_t pid = 0) noexcept;

}  // namespace bindguard
