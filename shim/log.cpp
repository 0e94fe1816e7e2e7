#include "log.hpp"

#include "launch.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bindguard::shim {
namespace {

// Room for one line. Every variable part has its own budget below, so a line
// always fits and a JSON line is always complete.
constexpr std::size_t kLineCapacity = 8192;
constexpr std::size_t kProgramBudget = 2048;  // bytes of output for the program path
constexpr std::size_t kNameBudget = 512;      // service, rule name
constexpr std::size_t kMessageBudget = 4096;  // error messages, diagnostics

// The lowest fd number for our own descriptors: high, so that a program that
// dup2()s onto small numbers does not collide with us.
constexpr int kPreferredLowestFd = 100;

constexpr const char* kSyslogPath = "/dev/log";

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

// A NUL-free character buffer on the stack that never overflows: appends beyond
// the capacity (less one byte kept for the final '\n') are dropped.
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
    void add_unsigned(std::uint64_t value, int min_digits = 1) noexcept {
        char digits[24];
        int count = 0;
        do {
            digits[count++] = static_cast<char>('0' + value % 10);
            value /= 10;
        } while (value != 0);
        while (count < min_digits) digits[count++] = '0';
        while (count > 0) add(digits[--count]);
    }
    void add_signed(std::int64_t value) noexcept {
        if (value < 0) {
            add('-');
            add_unsigned(static_cast<std::uint64_t>(-(value + 1)) + 1);
        } else {
            add_unsigned(static_cast<std::uint64_t>(value));
        }
    }
    // Text lines: control characters as \xNN, so that one line stays one line;
    // at most budget bytes.
    void add_text(std::string_view text, std::size_t budget) noexcept {
        add_escaped(text, budget, [](unsigned char c) { return c < 0x20 || c == 0x7f; });
    }
    // A text line's field value: one token that parses back to exactly the bytes
    // given (parse_text_field() in the tests, the README's "Log format"). Empty is
    // written "-" and a value that is just "-" as "\x2d"; space, '"', '\\', '=',
    // control characters, DEL and every byte >= 0x80 as \xNN (so nothing in a
    // value can look like a field separator, another field or an escape); the
    // rest as is. Cut at a byte boundary to at most budget bytes of output.
    void add_field(std::string_view text, std::size_t budget) noexcept {
        if (text.empty()) return add('-');
        if (text == "-") return add("\\x2d");
        add_escaped(text, budget, [](unsigned char c) {
            return c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=';
        });
    }
    // The bytes of text, each one for which escaped(byte) is true as \xNN, the
    // others as they are; stops before the byte that would take the output past
    // budget bytes (or past the room left).
    template <class Escaped>
    void add_escaped(std::string_view text, std::size_t budget, Escaped escaped) noexcept {
        std::size_t used = 0;
        for (unsigned char c : text) {
            const bool escape = escaped(c);
            const std::size_t width = escape ? 4 : 1;
            if (used + width > budget || width > room()) break;
            if (escape) {
                add("\\x");
                add_hex_byte(c);
            } else {
                add(static_cast<char>(c));
            }
            used += width;
        }
    }
    // A complete JSON string (quotes included): '"' and '\\' escaped, control
    // characters and bytes that are not valid UTF-8 as \u00XX, valid UTF-8 kept.
    // Stops at a character boundary when budget would be exceeded, so the result
    // is always valid JSON. Needs 2 bytes of room for the quotes.
    void add_json_string(std::string_view text, std::size_t budget) noexcept {
        if (budget > room()) budget = room();
        if (budget < 2) return;
        add('"');
        std::size_t used = 2;
        std::size_t i = 0;
        while (i < text.size()) {
            const auto c = static_cast<unsigned char>(text[i]);
            const std::size_t sequence = utf8_sequence_length(text, i);
            std::size_t width;
            if (c == '"' || c == '\\') width = 2;
            else if (c < 0x20 || c == 0x7f) width = 6;
            else if (c >= 0x80 && sequence == 0) width = 6;
            else width = c >= 0x80 ? sequence : 1;
            if (used + width > budget) break;
            if (c == '"' || c == '\\') {
                add('\\');
                add(static_cast<char>(c));
                i += 1;
            } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && sequence == 0)) {
                add("\\u00");
                add_hex_byte(c);
                i += 1;
            } else {
                const std::size_t n = c >= 0x80 ? sequence : 1;
                add(std::string_view(text.data() + i, n));  // in range: not substr(), which may throw
                i += n;
            }
            used += width;
        }
        add('"');
    }
    void terminate_line() noexcept { data_[size_++] = '\n'; }  // the byte kept in reserve

private:
    void add_hex_byte(unsigned char c) noexcept {
        constexpr char kHex[] = "0123456789abcdef";
        add(kHex[c >> 4]);
        add(kHex[c & 0xf]);
    }
    // Length of the valid UTF-8 sequence starting at text[i] (2-4), or 0 if the
    // bytes there are not one (overlong forms, surrogates and > U+10FFFF included).
    static std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept {
        const auto lead = static_cast<unsigned char>(text[i]);
        std::size_t length;
        std::uint32_t code;
        if (lead >= 0xc2 && lead <= 0xdf) { length = 2; code = lead & 0x1f; }
        else if (lead >= 0xe0 && lead <= 0xef) { length = 3; code = lead & 0x0f; }
        else if (lead >= 0xf0 && lead <= 0xf4) { length = 4; code = lead & 0x07; }
        else return 0;
        if (i + length > text.size()) return 0;
        for (std::size_t k = 1; k < length; ++k) {
            const auto next = static_cast<unsigned char>(text[i + k]);
            if ((next & 0xc0) != 0x80) return 0;
            code = (code << 6) | (next & 0x3f);
        }
        if ((length == 3 && code < 0x800) || (length == 4 && (code < 0x10000 || code > 0x10ffff)) ||
            (code >= 0xd800 && code <= 0xdfff))
            return 0;
        return length;
    }

    char* data_;
    std::size_t capacity_;
    std::size_t size_ = 0;
};

// "bindguard[PID]: "; the pid is read now because the process may have forked.
void add_prefix(LineBuffer& line) noexcept {
    line.add("bindguard[");
    line.add_unsigned(static_cast<std::uint64_t>(getpid()));
    line.add("]: ");
}

// RFC 3339 UTC with milliseconds, e.g. 2026-11-22T04:20:43.123Z. The civil date
// is computed here (days to year/month/day) because gmtime_r takes a lock.
void add_timestamp(LineBuffer& line) noexcept {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const std::int64_t seconds = now.tv_sec;
    std::int64_t days = seconds / 86400;
    std::int64_t second_of_day = seconds % 86400;
    if (second_of_day < 0) {
        second_of_day += 86400;
        days -= 1;
    }
    // Days since 1970-01-01 to a proleptic Gregorian date, counting eras of
    // 400 years (146097 days) from 0000-03-01 so that leap days come last.
    const std::int64_t shifted = days + 719468;
    const std::int64_t era = (shifted >= 0 ? shifted : shifted - 146096) / 146097;
    const std::int64_t day_of_era = shifted - era * 146097;
    const std::int64_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    const std::int64_t month_index = (5 * day_of_year + 2) / 153;  // 0 = March
    const std::int64_t day = day_of_year - (153 * month_index + 2) / 5 + 1;
    const std::int64_t month = month_index < 10 ? month_index + 3 : month_index - 9;
    const std::int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);

    line.add_unsigned(static_cast<std::uint64_t>(year), 4);
    line.add('-');
    line.add_unsigned(static_cast<std::uint64_t>(month), 2);
    line.add('-');
    line.add_unsigned(static_cast<std::uint64_t>(day), 2);
    line.add('T');
    line.add_unsigned(static_cast<std::uint64_t>(second_of_day / 3600), 2);
    line.add(':');
    line.add_unsigned(static_cast<std::uint64_t>(second_of_day / 60 % 60), 2);
    line.add(':');
    line.add_unsigned(static_cast<std::uint64_t>(second_of_day % 60), 2);
    line.add('.');
    line.add_unsigned(static_cast<std::uint64_t>(now.tv_nsec / 1000000), 3);
    line.add('Z');
}

// "EADDRINUSE" etc., or the number when glibc has no name for it.
void add_errno_name(LineBuffer& line, int error) noexcept {
    if (const char* name = strerrorname_np(error)) {
        line.add(name);
    } else {
        line.add("errno ");
        line.add_signed(error);
    }
}

// The action as logged: would-rewrite / would-deny in audit mode.
const char* action_name(const Decision& decision, bool audit) noexcept {
    if (audit && decision.action == Action::rewrite) return "would-rewrite";
    if (audit && decision.action == Action::deny) return "would-deny";
    return to_string(decision.action);
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

// One write() of the whole line (retried on EINTR). Returns 0 or the errno.
int write_line(int fd, const char* data, std::size_t length) noexcept {
    for (;;) {
        const ssize_t written = write(fd, data, length);
        if (written >= 0) return static_cast<std::size_t>(written) == length ? 0 : EIO;
        if (errno != EINTR) return errno;
    }
}

// One datagram "<PRI>bindguard[PID]: BODY" to the connected syslog socket: the
// line without its newline; a text line already starts with the classic
// "TAG[PID]: " (body_offset > 0), a JSON line (body_offset 0) gets it here.
// Gathered with sendmsg() so the line is not copied. Returns 0 or the errno.
int send_syslog(int fd, const char* line, std::size_t length, std::size_t body_offset, int severity) noexcept {
    char header_storage[64];
    LineBuffer header(header_storage, sizeof header_storage);
    header.add('<');
    header.add_unsigned(static_cast<std::uint64_t>(LOG_DAEMON | severity));
    header.add('>');
    if (body_offset == 0) add_prefix(header);
    iovec parts[2] = {{header_storage, header.size()}, {const_cast<char*>(line), length > 0 ? length - 1 : 0}};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = 2;
    for (;;) {
        if (sendmsg(fd, &message, MSG_NOSIGNAL) >= 0) return 0;
        if (errno != EINTR) return errno;
    }
}

// Opens log.path for appending. Only a regular file is accepted: a FIFO would
// block every process at start until a reader comes (and is opened O_NONBLOCK so
// that the check itself cannot hang), a device or socket is not a log file.
// Returns the fd, or -1 with errno set, or -1 with refusal set to the reason.
int open_log_file(const char* path, const char*& refusal) noexcept {
    refusal = nullptr;
    struct stat status {};
    // Checked before opening (opening a device or FIFO can have effects of its own)
    // and again on the opened file (it may have been replaced in between).
    if (stat(path, &status) == 0 && !S_ISREG(status.st_mode)) {
        refusal = S_ISFIFO(status.st_mode) ? "it is a FIFO, not a regular file" : "it is not a regular file";
        return -1;
    }
    const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);
    if (fd < 0) return -1;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        close(fd);
        refusal = "it is not a regular file";
        return -1;
    }
    const int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
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
    char storage[kMessageBudget + 64];
    LineBuffer line(storage, sizeof storage);
    add_prefix(line);
    line.add_text(message, kMessageBudget);
    line.terminate_line();
    if (stderr_still_ours()) write_line(STDERR_FILENO, line.data(), line.size());
    errno = saved;
}

LogLevel level_of(const Decision& decision) noexcept {
    return decision.action == Action::allow ? LogLevel::debug : LogLevel::info;
}

template <class Line>
void Logger::describe_sink(Line& line) const noexcept {
    if (sink_ == LogSink::file) {
        line.add("log file ");
        line.add_text(sink_path_, kMessageBudget / 2);
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
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, kSyslogPath, std::strlen(kSyslogPath) + 1);
        if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
            const int error = errno;
            close(fd);
            fd = -1;
            errno = error;
        }
    } else {
        errno = saved;
        return;
    }
    if (fd >= 0) sink_fd_ = adopt_fd(fd, true);
    if (sink_fd_.fd < 0) {
        const int error = errno;
        sink_failed_.store(true);
        char storage[kMessageBudget];
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

std::size_t format_log_line(const LogLineContext& context, const LogRecord& record, std::uint64_t dropped, char* out,
                            std::size_t capacity, std::size_t& body_offset) noexcept {
    body_offset = 0;
    if (record.request == nullptr || capacity < 2) return 0;
    const Request& request = *record.request;
    const char* program = context.program != nullptr ? context.program : "";
    const char* service = context.service != nullptr ? context.service : "";
    LineBuffer line(out, capacity);
    if (context.format == LogFormat::text) {
        add_prefix(line);
        body_offset = line.size();
        char described[512];
        const std::size_t length = describe(request, record.decision, record.audit, described, sizeof described);
        line.add(std::string_view(described, length));
        if (record.error != 0 && !(record.decision.action == Action::deny && !record.audit)) {
            line.add(" error=");
            add_errno_name(line, record.error);
        }
        line.add(" rule=");
        line.add_field(record.decision.rule, kNameBudget);
        line.add(" program=");
        line.add_field(program, kProgramBudget);
        line.add(" service=");
        line.add_field(service, kNameBudget);
        if (std::strcmp(record.call, "bind") != 0) {
            line.add(" call=");
            line.add_field(record.call, kNameBudget);
        }
        if (record.note != nullptr) {
            line.add(" note=");
            line.add_field(record.note, kNameBudget);
        }
        line.terminate_line();
        return line.size();
    }

    char requested[64];
    format_endpoint(request.address, requested, sizeof requested);
    char result[64];
    if (record.error != 0) {
        LineBuffer name(result, sizeof result);
        add_errno_name(name, record.error);
        result[name.size()] = '\0';
    } else if (record.bound != nullptr) {
        format_endpoint(*record.bound, result, sizeof result);
    } else {
        format_endpoint(record.audit ? request.address : record.decision.address, result, sizeof result);
    }
    line.add("{\"ts\":\"");
    add_timestamp(line);
    line.add("\",\"pid\":");
    line.add_unsigned(static_cast<std::uint64_t>(getpid()));
    line.add(",\"program\":");
    line.add_json_string(program, kProgramBudget);
    line.add(",\"service\":");
    line.add_json_string(service, kNameBudget);
    line.add(",\"call\":");
    line.add_json_string(record.call, kNameBudget);
    line.add(",\"proto\":\"");
    line.add(to_string(request.protocol));
    line.add("\",\"requested\":\"");
    line.add(requested);
    line.add("\",\"action\":\"");
    line.add(action_name(record.decision, record.audit));
    line.add("\",\"result\":\"");
    line.add(result);
    line.add("\",\"rule\":");
    line.add_json_string(record.decision.rule, kNameBudget);
    line.add(",\"mode\":\"");
    line.add(to_string(context.mode));
    line.add("\",\"errno\":");
    line.add_signed(record.error);
    if (record.note != nullptr) {
        line.add(",\"note\":");
        line.add_json_string(record.note, kNameBudget);
    }
    if (dropped > 0) {
        line.add(",\"suppressed\":");
        line.add_unsigned(dropped);
    }
    line.add('}');
    line.terminate_line();
    return line.size();
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
    char storage[kLineCapacity];
    if (format_ == LogFormat::text && dropped > 0) {
        LineBuffer line(storage, sizeof storage);
        add_prefix(line);
        const std::size_t body = line.size();
        line.add("suppressed ");
        line.add_unsigned(dropped);
        line.add(" log lines");
        line.terminate_line();
        emit(line.data(), line.size(), body, LOG_WARNING);
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
            char storage[kMessageBudget];
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
