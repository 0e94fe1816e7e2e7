// The text log line with hostile values: it is always one line of printable
// ASCII that the strict reader (tests/support/log_line) parses, and every value
// reads back to exactly itself, or, when cut at its budget, to a prefix of itself.
#include <cstdlib>
#include <string_view>

#include "log_fuzz_common.hpp"
#include "support/log_line.hpp"

namespace {

void check_value(const bgtest::TextLogLine& parsed, std::string_view key, const std::string& expected) {
    const auto value = parsed.field(key);
    if (!value) std::abort();
    if (*value == expected) return;
    // Cut at the budget: a strict prefix, and only when the escaped value is long.
    if (value->size() >= expected.size() || expected.compare(0, value->size(), *value) != 0) std::abort();
    if (bgtest::escape_text_field(expected).size() <= 512) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzzlog::Values values = fuzzlog::split(data, size);
    const std::string line = fuzzlog::format(values, bindguard::LogFormat::text);
    if (line.empty() || line.back() != '\n') std::abort();
    const std::string_view body(line.data(), line.size() - 1);
    for (unsigned char c : body)
        if (c < 0x20 || c >= 0x7f) std::abort();
    const auto parsed = bgtest::parse_text_log_line(body);
    if (!parsed) std::abort();
    check_value(*parsed, "rule", values.rule);
    check_value(*parsed, "program", values.program);
    check_value(*parsed, "service", values.service);
    if (values.call != "bind") check_value(*parsed, "call", values.call);
    else if (parsed->field("call")) std::abort();
    if (values.has_note) check_value(*parsed, "note", values.note);
    else if (parsed->field("note")) std::abort();
    return 0;
}
