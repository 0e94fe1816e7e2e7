// The JSON log line with hostile values: always exactly one line holding one
// valid JSON object with the documented keys, and every value written exactly as an
// escaper of this file's own writes it: '"' and '\' as \" and \\, control characters
// (below 0x20, and 0x7f) and every byte that is not part of well-formed UTF-8 as \u00xx,
// well-formed UTF-8 as it is; cut before the first character that would take the string
// (quotes included) past its budget (2048 bytes for the program, 512 for the others).
// The same holds for the kernel relay's line of the same decision, which is the library's
// line of the same record with "call":"kernel" (all but the timestamp, byte for byte).
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "log_fuzz_common.hpp"

namespace {

// The length of the well-formed UTF-8 sequence at text[i] (Unicode's table 3-7 of
// well-formed byte sequences, read byte by byte), or 0 when there is none.
std::size_t well_formed_length(const std::string& text, std::size_t i) {
    auto at = [&](std::size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0x100u; };
    auto in = [](unsigned byte, unsigned low, unsigned high) { return byte >= low && byte <= high; };
    const unsigned b0 = at(0);
    if (b0 <= 0x7f) return 1;
    if (in(b0, 0xc2, 0xdf)) return in(at(1), 0x80, 0xbf) ? 2 : 0;
    unsigned low = 0x80, high = 0xbf;  // the second byte's range
    if (b0 == 0xe0) low = 0xa0;
    else if (b0 == 0xed) high = 0x9f;
    else if (b0 == 0xf0) low = 0x90;
    else if (b0 == 0xf4) high = 0x8f;
    if (in(b0, 0xe0, 0xef)) return in(at(1), low, high) && in(at(2), 0x80, 0xbf) ? 3 : 0;
    if (in(b0, 0xf0, 0xf4)) return in(at(1), low, high) && in(at(2), 0x80, 0xbf) && in(at(3), 0x80, 0xbf) ? 4 : 0;
    return 0;
}

// value as the JSON string the line must hold, quotes included, cut to budget bytes.
std::string expected_json(const std::string& value, std::size_t budget) {
    std::string out = "\"";
    for (std::size_t i = 0; i < value.size();) {
        const auto byte = static_cast<unsigned char>(value[i]);
        const std::size_t length = well_formed_length(value, i);
        std::string unit;
        if (byte == '"' || byte == '\\') {
            unit = std::string("\\") + static_cast<char>(byte);
        } else if (byte < 0x20 || byte == 0x7f || length == 0) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", byte);
            unit = escaped;
        } else {
            unit = value.substr(i, length);
        }
        if (out.size() + unit.size() + 1 > budget) break;
        out += unit;
        i += length == 0 ? 1 : length;
    }
    return out + "\"";
}

// The line must hold "key":EXPECTED as a member of the object (after '{' or ','; inside a
// string every '"' is escaped, so neither can come before an unescaped quote there), and
// the parsed record the same text.
void check_value(const std::string& line, const nlohmann::json& record, const char* key, const std::string& value,
                 std::size_t budget) {
    const std::string expected = expected_json(value, budget);
    const std::string member = std::string("\"") + key + "\":" + expected;
    bool found = false;
    for (std::size_t at = line.find(member); at != std::string::npos && !found; at = line.find(member, at + 1)) {
        const std::size_t end = at + member.size();
        found = at > 0 && (line[at - 1] == '{' || line[at - 1] == ',') && end < line.size() &&
                (line[end] == ',' || line[end] == '}');
    }
    if (!found) std::abort();
    if (!record.contains(key) || !record[key].is_string() ||
        record[key] != nlohmann::json::parse(expected, nullptr, false))
        std::abort();
}

// One JSON line of values: the properties above.
void check_line(const std::string& line, const fuzzlog::Values& values) {
    if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) std::abort();
    const std::string object = line.substr(0, line.size() - 1);
    const auto record = nlohmann::json::parse(object, nullptr, false);
    if (record.is_discarded() || !record.is_object()) std::abort();
    for (const char* key : {"ts", "pid", "program", "service", "call", "proto", "requested", "action", "result", "rule",
                            "mode", "errno", "suppressed"})
        if (!record.contains(key)) std::abort();
    check_value(object, record, "program", values.program, 2048);
    check_value(object, record, "service", values.service, 512);
    check_value(object, record, "rule", values.rule, 512);
    check_value(object, record, "call", values.call, 512);
    if (values.has_note) check_value(object, record, "note", values.note, 512);
    else if (record.contains("note")) std::abort();
}

// The line without its timestamp ({"ts":"...", is the same length in every line).
std::string without_timestamp(const std::string& line) {
    const std::size_t end = line.find("\",\"pid\":");
    if (!line.starts_with("{\"ts\":\"") || end == std::string::npos) std::abort();
    return line.substr(end);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzzlog::Values values = fuzzlog::split(data, size);
    check_line(fuzzlog::format(values, bindguard::LogFormat::json), values);
    const fuzzlog::Values kernel = fuzzlog::as_kernel(values);
    const std::string kernel_line = fuzzlog::format_kernel(values, bindguard::LogFormat::json);
    check_line(kernel_line, kernel);
    if (!values.has_note &&
        without_timestamp(kernel_line) != without_timestamp(fuzzlog::format(kernel, bindguard::LogFormat::json)))
        std::abort();
    return 0;
}
