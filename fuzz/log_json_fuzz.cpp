// The JSON log line with hostile values: always exactly one line holding one
// valid JSON object with the documented keys; a value that is valid UTF-8 and
// fits its budget reads back to exactly itself.
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "log_fuzz_common.hpp"

namespace {

bool valid_utf8(const std::string& text) {
    try {
        (void)nlohmann::json(text).dump();
        return true;
    } catch (const nlohmann::json::exception&) {
        return false;
    }
}

void check_value(const nlohmann::json& record, const char* key, const std::string& expected) {
    if (!record.contains(key) || !record[key].is_string()) std::abort();
    const std::string value = record[key].get<std::string>();
    if (value == expected) return;
    bool plain = valid_utf8(expected);
    for (unsigned char c : expected) plain = plain && c >= 0x20 && c != 0x7f && c != '"' && c != '\\';
    // A plain value short enough to fit must come back exactly.
    if (plain && expected.size() + 2 <= 512) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzzlog::Values values = fuzzlog::split(data, size);
    const std::string line = fuzzlog::format(values, bindguard::LogFormat::json);
    if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) std::abort();
    const auto record = nlohmann::json::parse(line.substr(0, line.size() - 1), nullptr, false);
    if (record.is_discarded() || !record.is_object()) std::abort();
    for (const char* key : {"ts", "pid", "program", "service", "call", "proto", "requested", "action", "result", "rule",
                            "mode", "errno", "suppressed"})
        if (!record.contains(key)) std::abort();
    check_value(record, "program", values.program);
    check_value(record, "service", values.service);
    check_value(record, "rule", values.rule);
    check_value(record, "call", values.call);
    if (values.has_note) check_value(record, "note", values.note);
    else if (record.contains("note")) std::abort();
    return 0;
}
