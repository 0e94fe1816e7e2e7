#include "bindguard/log_line.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bindguard {
namespace {

// The bytes of text, each one for which escaped(byte) is true as \xNN, the others as
// they are; stops before the byte that would take the output past budget bytes (or
// past the room left).
template <class Escaped>
void add_escaped(LineBuffer& line, std::string_view text, std::size_t budget, Escaped escaped) noexcept {
    constexpr char kHex[] = "0123456789abcdef";
    std::size_t used = 0;
    for (unsigned char c : text) {
        const bool escape = escaped(c);
        const std::size_t width = escape ? 4 : 1;
        if (used + width > budget || width > line.room()) break;
        if (escape) {
            line.add("\\x");
            line.add(kHex[c >> 4]);
            line.add(kHex[c & 0xf]);
        } else {
            line.add(static_cast<char>(c));
        }
        used += width;
    }
}

// Length of the valid UTF-8 sequence starting at text[i] (2-4), or 0 if the bytes
// there are not one (overlong forms, surrogates and > U+10FFFF included).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept {
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

// The action as logged: would-rewrite / would-deny in audit mode.
const char* action_name(const Decision& decision, bool audit) noexcept {
    if (audit && decision.action == Action::rewrite) return "would-rewrite";
    if (audit && decision.action == Action::deny) return "would-deny";
    return to_string(decision.action);
}

// A listener confined to the loopback device: "0.0.0.0%lo:41234", "[::%lo]:41234".
// (No substr(): it may throw, and nothing of the exception runtime may be linked.)
void add_confined(LineBuffer& line, const Endpoint& endpoint) noexcept {
    char text[80];
    const std::size_t length = format_endpoint(endpoint, text, sizeof text);
    const std::string_view all(text, length);
    std::size_t colon = all.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return line.add(all);
    if (endpoint.family == AF_INET6) colon -= 1;  // "[::]:80": before the ']'
    line.add(std::string_view(text, colon));
    line.add("%lo");
    line.add(std::string_view(text + colon, length - colon));
}

}  // namespace

void LineBuffer::add_unsigned(std::uint64_t value, int min_digits) noexcept {
    char digits[24];
    int count = 0;
    do {
        digits[count++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (count < min_digits) digits[count++] = '0';
    while (count > 0) add(digits[--count]);
}

void LineBuffer::add_signed(std::int64_t value) noexcept {
    if (value < 0) {
        add('-');
        add_unsigned(static_cast<std::uint64_t>(-(value + 1)) + 1);
    } else {
        add_unsigned(static_cast<std::uint64_t>(value));
    }
}

void LineBuffer::add_text(std::string_view text, std::size_t budget) noexcept {
    add_escaped(*this, text, budget, [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

void LineBuffer::add_field(std::string_view text, std::size_t budget) noexcept {
    if (text.empty()) return add('-');
    if (text == "-") return add("\\x2d");
    add_escaped(*this, text, budget,
                [](unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '='; });
}

void LineBuffer::add_json_string(std::string_view text, std::size_t budget) noexcept {
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

void LineBuffer::add_hex_byte(unsigned char c) noexcept {
    constexpr char kHex[] = "0123456789abcdef";
    add(kHex[c >> 4]);
    add(kHex[c & 0xf]);
}

void LineBuffer::add_errno_name(int error) noexcept {
    if (const char* name = strerrorname_np(error)) {
        add(name);
    } else {
        add("errno ");
        add_signed(error);
    }
}

void LineBuffer::add_prefix(std::uint32_t pid) noexcept {
    add("bindguard[");
    add_unsigned(pid != 0 ? pid : static_cast<std::uint64_t>(getpid()));
    add("]: ");
}

// E.g. 2026-11-22T04:20:43.123Z. The civil date is computed here (days to
// year/month/day) because gmtime_r takes a lock.
void LineBuffer::add_timestamp() noexcept {
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

    add_unsigned(static_cast<std::uint64_t>(year), 4);
    add('-');
    add_unsigned(static_cast<std::uint64_t>(month), 2);
    add('-');
    add_unsigned(static_cast<std::uint64_t>(day), 2);
    add('T');
    add_unsigned(static_cast<std::uint64_t>(second_of_day / 3600), 2);
    add(':');
    add_unsigned(static_cast<std::uint64_t>(second_of_day / 60 % 60), 2);
    add(':');
    add_unsigned(static_cast<std::uint64_t>(second_of_day % 60), 2);
    add('.');
    add_unsigned(static_cast<std::uint64_t>(now.tv_nsec / 1000000), 3);
    add('Z');
}

LogLevel level_of(const Decision& decision) noexcept {
    return decision.action == Action::allow ? LogLevel::debug : LogLevel::info;
}

std::size_t format_log_line(const LogLineContext& context, const LogRecord& record, std::uint64_t dropped, char* out,
                            std::size_t capacity, std::size_t& body_offset) noexcept {
    body_offset = 0;
    if (record.request == nullptr || capacity < 2) return 0;
    const Request& request = *record.request;
    const char* program = context.program != nullptr ? context.program : "";
    const char* service = context.service != nullptr ? context.service : "";
    const char* call = record.call != nullptr ? record.call : "bind";
    LineBuffer line(out, capacity);
    if (context.format == LogFormat::text) {
        line.add_prefix(context.pid);
        body_offset = line.size();
        if (record.confined) {
            char requested[64];
            format_endpoint(request.address, requested, sizeof requested);
            line.add(action_name(record.decision, record.audit));
            line.add(' ');
            line.add(to_string(request.protocol));
            line.add(' ');
            line.add(requested);
            line.add(" -> ");
            add_confined(line, record.decision.address);
        } else {
            char described[512];
            const std::size_t length = describe(request, record.decision, record.audit, described, sizeof described);
            line.add(std::string_view(described, length));
        }
        if (record.error != 0 && !(record.decision.action == Action::deny && !record.audit)) {
            line.add(" error=");
            line.add_errno_name(record.error);
        }
        line.add(" rule=");
        line.add_field(record.decision.rule != nullptr ? record.decision.rule : "", kLogNameBudget);
        line.add(" program=");
        line.add_field(program, kLogProgramBudget);
        line.add(" service=");
        line.add_field(service, kLogNameBudget);
        if (std::strcmp(call, "bind") != 0) {
            line.add(" call=");
            line.add_field(call, kLogNameBudget);
        }
        if (record.note != nullptr) {
            line.add(" note=");
            line.add_field(record.note, kLogNameBudget);
        }
        line.terminate_line();
        return line.size();
    }

    char requested[64];
    format_endpoint(request.address, requested, sizeof requested);
    char result_storage[96];
    LineBuffer result(result_storage, sizeof result_storage);
    if (record.error != 0) {
        result.add_errno_name(record.error);
    } else if (record.confined) {
        add_confined(result, record.decision.address);
    } else {
        char endpoint[64];
        const Endpoint& shown = record.bound != nullptr ? *record.bound
                                : record.audit          ? request.address
                                                        : record.decision.address;
        result.add(std::string_view(endpoint, format_endpoint(shown, endpoint, sizeof endpoint)));
    }
    line.add("{\"ts\":\"");
    line.add_timestamp();
    line.add("\",\"pid\":");
    line.add_unsigned(context.pid != 0 ? context.pid : static_cast<std::uint64_t>(getpid()));
    line.add(",\"program\":");
    line.add_json_string(program, kLogProgramBudget);
    line.add(",\"service\":");
    line.add_json_string(service, kLogNameBudget);
    line.add(",\"call\":");
    line.add_json_string(call, kLogNameBudget);
    line.add(",\"proto\":\"");
    line.add(to_string(request.protocol));
    line.add("\",\"requested\":\"");
    line.add(requested);
    line.add("\",\"action\":\"");
    line.add(action_name(record.decision, record.audit));
    line.add("\",\"result\":\"");
    line.add(std::string_view(result.data(), result.size()));
    line.add("\",\"rule\":");
    line.add_json_string(record.decision.rule != nullptr ? record.decision.rule : "", kLogNameBudget);
    line.add(",\"mode\":\"");
    line.add(to_string(context.mode));
    line.add("\",\"errno\":");
    line.add_signed(record.error);
    if (record.note != nullptr) {
        line.add(",\"note\":");
        line.add_json_string(record.note, kLogNameBudget);
    }
    if (dropped > 0) {
        line.add(",\"suppressed\":");
        line.add_unsigned(dropped);
    }
    line.add('}');
    line.terminate_line();
    return line.size();
}

std::size_t format_suppressed_line(std::uint32_t pid, std::uint64_t dropped, char* out, std::size_t capacity,
                                   std::size_t& body_offset) noexcept {
    body_offset = 0;
    if (capacity < 2) return 0;
    LineBuffer line(out, capacity);
    line.add_prefix(pid);
    body_offset = line.size();
    line.add("suppressed ");
    line.add_unsigned(dropped);
    line.add(" log lines");
    line.terminate_line();
    return line.size();
}

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
        refusal = S_ISFIFO(status.st_mode) ? "it is a FIFO, not a regular file" : "it is not a regular file";
        return -1;
    }
    const int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    return fd;
}

int connect_syslog() noexcept {
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, kSyslogPath, std::strlen(kSyslogPath) + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        const int error = errno;
        close(fd);
        errno = error;
        return -1;
    }
    return fd;
}

int write_line(int fd, const char* data, std::size_t length) noexcept {
    for (;;) {
        const ssize_t written = write(fd, data, length);
        if (written >= 0) return static_cast<std::size_t>(written) == length ? 0 : EIO;
        if (errno != EINTR) return errno;
    }
}

int send_syslog(int fd, const char* line, std::size_t length, std::size_t body_offset, int severity,
                std::uint32_t pid) noexcept {
    char header_storage[64];
    LineBuffer header(header_storage, sizeof header_storage);
    header.add('<');
    header.add_unsigned(static_cast<std::uint64_t>(LOG_DAEMON | severity));
    header.add('>');
    if (body_offset == 0) header.add_prefix(pid);
    iovec parts[2] = {{header_storage, header.size()}, {const_cast<char*>(line), length > 0 ? length - 1 : 0}};
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = 2;
    for (;;) {
        if (sendmsg(fd, &message, MSG_NOSIGNAL) >= 0) return 0;
        if (errno != EINTR) return errno;
    }
}

}  // namespace bindguard
