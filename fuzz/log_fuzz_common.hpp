// What the two log-format fuzz targets share: an input split into the values of
// one log record (program, service, rule, call, note: NUL-separated C strings,
// since that is what the library holds), and the formatting of the line: the
// library's, and the kernel relay's for a kernel event of the same decision.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "bindguard/event_line.hpp"
#include "bindguard/log_line.hpp"

namespace fuzzlog {

struct Values {
    std::string program, service, rule, call, note;
    bool has_note = false;
    bool audit = false;
    int error = 0;
    bindguard::Action action = bindguard::Action::rewrite;
};

inline Values split(const std::uint8_t* data, std::size_t size) {
    Values values;
    std::vector<std::string> parts(1);
    std::uint8_t flags = size > 0 ? data[0] : 0;
    for (std::size_t i = size > 0 ? 1 : 0; i < size; ++i) {
        if (data[i] == 0) parts.emplace_back();
        else parts.back().push_back(static_cast<char>(data[i]));
    }
    parts.resize(5);
    values.program = parts[0];
    values.service = parts[1];
    values.rule = parts[2];
    values.call = parts[3].empty() ? "bind" : parts[3];
    values.note = parts[4];
    values.has_note = (flags & 1) != 0;
    values.audit = (flags & 2) != 0;
    values.error = (flags & 4) != 0 ? static_cast<int>(flags >> 3) : 0;
    values.action = static_cast<bindguard::Action>((flags >> 6) % 3);
    return values;
}

// Formats the line; returns it (with its '\n').
inline std::string format(const Values& values, bindguard::LogFormat format) {
    using namespace bindguard;
    Request request;
    request.address = *parse_endpoint("0.0.0.0:3000");
    request.protocol = Protocol::tcp;
    LogRecord record;
    record.call = values.call.c_str();
    record.request = &request;
    record.decision.action = values.action;
    record.decision.address = *parse_endpoint("127.0.0.1:3000");
    record.decision.rule = values.rule.c_str();
    record.audit = values.audit;
    record.error = values.error;
    record.note = values.has_note ? values.note.c_str() : nullptr;
    const LogLineContext context{format, values.audit ? Mode::audit : Mode::enforce, values.program.c_str(),
                                       values.service.c_str()};
    std::vector<char> line(8192);
    std::size_t body = 0;
    const std::size_t length = format_log_line(context, record, 3, line.data(), line.size(), body);
    return std::string(line.data(), length);
}

// The kernel's event of the same decision (a bind of 0.0.0.0:3000 by this process, the
// rewrite target 127.0.0.1:3000), formatted as the relay does: call=kernel, no note. With
// has_note set (a kernel line has no note) the event is a listen instead, whose rewrite
// the kernel reports as confined to lo.
inline std::string format_kernel(const Values& values, bindguard::LogFormat format) {
    using namespace bindguard;
    bg_event event{};
    event.pid = static_cast<__u32>(getpid());
    event.call = values.has_note ? BG_CALL_LISTEN : BG_CALL_BIND;
    event.action = values.action == Action::rewrite ? BG_ACTION_REWRITE
                   : values.action == Action::deny  ? BG_ACTION_DENY
                                                    : BG_ACTION_ALLOW;
    event.audit = values.audit ? 1 : 0;
    event.protocol = BG_PROTO_TCP;
    event.family = AF_INET;
    const std::uint8_t requested[4] = {0, 0, 0, 0}, result[4] = {127, 0, 0, 1};
    std::memcpy(&event.requested[3], requested, 4);
    std::memcpy(&event.result[3], result, 4);
    event.requested_port = 3000;
    event.result_port = 3000;
    event.error = values.error;
    std::vector<char> line(kLogLineCapacity);
    std::size_t body = 0;
    const std::size_t length =
        kernel::format_event_line(event, values.rule.c_str(), format, values.audit ? Mode::audit : Mode::enforce,
                                  values.program.c_str(), values.service.c_str(), 3, line.data(), line.size(), body);
    return std::string(line.data(), length);
}

// values as the kernel's record holds them: call "kernel", no note.
inline Values as_kernel(Values values) {
    values.call = "kernel";
    values.has_note = false;
    values.note.clear();
    return values;
}

}  // namespace fuzzlog
