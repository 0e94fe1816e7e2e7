// A strict reader of the library's text log lines (docs/policy.md, "Log lines"), used
// by the tests and the log-format fuzz target to show that one line always
// parses back to exactly the fields that were written. Depends on nothing else.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bgtest {

struct TextLogLine {
    unsigned long pid = 0;
    // The words before the first field: e.g. {"rewrite", "tcp", "0.0.0.0:80", "->", "127.0.0.1:80"}.
    std::vector<std::string> words;
    // The KEY=VALUE fields in order, values unescaped ("-" is the empty value).
    std::vector<std::pair<std::string, std::string>> fields;

    // The value of key, or nullopt.
    std::optional<std::string> field(std::string_view key) const;
};

// Parses "bindguard[PID]: WORD... KEY=VALUE..." (without the newline). Returns
// nullopt for anything the library could not have written: no prefix, an empty
// or doubled separator, a field before a word, a repeated key, a raw byte that
// the writer escapes (space, '"', '\\', '=', controls, DEL, >= 0x80) or a bad
// \xNN escape.
std::optional<TextLogLine> parse_text_log_line(std::string_view line);

// Escapes value the way the library writes a field value (the inverse of the parser).
std::string escape_text_field(std::string_view value);

}  // namespace bgtest
