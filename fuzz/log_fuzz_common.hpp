// What the two log-format fuzz targets share: an input split into the values of
// one log record (program, service, rule, call, note: NUL-separated C strings,
// since that is what the library holds), and the formatting of the line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "log.hpp"

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
    shim::LogRecord record;
    record.call = values.call.c_str();
    record.request = &request;
    record.decision.action = values.action;
    record.decision.address = *parse_endpoint("127.0.0.1:3000");
    record.decision.rule = values.rule.c_str();
    record.audit = values.audit;
    record.error = values.error;
    record.note = values.has_note ? values.note.c_str() : nullptr;
    const shim::LogLineContext context{format, values.audit ? Mode::audit : Mode::enforce, values.program.c_str(),
                                       values.service.c_str()};
    std::vector<char> line(8192);
    std::size_t body = 0;
    const std::size_t length = shim::format_log_line(context, record, 3, line.data(), line.size(), body);
    return std::string(line.data(), length);
}

}  // namespace fuzzlog
