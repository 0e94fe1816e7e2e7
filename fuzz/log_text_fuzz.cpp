// The text log line with hostile values: it is always one line of printable
// ASCII that the strict reader (tests/support/log_line) parses, and every value
// reads back to exactly itself, or, when cut at its budget, to a prefix of itself.
// The same holds for the kernel relay's line of the same decision, which is the
// library's line of the same record with call=kernel, byte for byte.
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

namespace {

// One text line of values: the properties above.
void check_line(const std::string& line, const fuzzlog::Values& values) {
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
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzzlog::Values values = fuzzlog::split(data, size);
    check_line(fuzzlog::format(values, bindguard::LogFormat::text), values);
    const fuzzlog::Values kernel = fuzzlog::as_kernel(values);
    const std::string kernel_line = fuzzlog::format_kernel(values, bindguard::LogFormat::text);
    check_line(kernel_line, kernel);
    // A bind event: the library's line of the same record, with call=kernel.
    if (!values.has_note && kernel_line != fuzzlog::format(kernel, bindguard::LogFormat::text)) std::abort();
    return 0;
}
