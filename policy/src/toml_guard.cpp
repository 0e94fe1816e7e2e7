// A scan of the policy text before toml++ sees it (see internal.hpp).
#include "internal.hpp"

namespace bindguard::detail {
namespace {

bool is_toml_whitespace(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

std::optional<TextProblem> find_toml_unsafe_text(std::string_view text) {
    enum class State { normal, comment, basic, literal, multi_basic, multi_literal };
    State state = State::normal;
    std::uint32_t line = 1;
    std::uint32_t column = 0;
    std::size_t i = 0;
    // Moves past text[i], counting lines and columns (a column per code point, as toml++).
    auto advance = [&] {
        const auto c = static_cast<unsigned char>(text[i++]);
        if (c == '\n') {
            ++line;
            column = 0;
        } else if ((c & 0xc0) != 0x80) {
            ++column;
        }
    };
    auto starts = [&](std::string_view token) { return text.substr(i, token.size()) == token; };
    auto problem = [&](const char* message) {
        return TextProblem{SourcePosition{line, column + 1}, message};
    };
    constexpr const char* kOutside = "a non-ASCII character outside a string or comment (TOML allows it only there)";
    constexpr const char* kAfterBackslash =
        "a non-ASCII character right after a backslash in a multi-line string is not supported here "
        "(write it as \\uXXXX)";

    // Where a quote opens a string, as toml++ reads it: only where a key or a value
    // begins. Anywhere else (e.g. "2\"...") toml++ is reading a bare value or key
    // and asks "is this a terminator?" (whitespace) of every character that follows.
    char previous = '\n';            // the last character outside strings that is not a space or tab
    bool key_context = true;         // before the '=' of a line, or in an inline table's key
    bool in_bare_value = false;      // inside a value that is not a string, array or inline table
    std::string_view::size_type open_depth = 0;
    char open[64];                   // value-context brackets: 'a' array, 't' inline table
    auto at_newline = [&] {
        previous = '\n';
        if (open_depth == 0) key_context = true;
    };
    auto string_may_start = [&] {
        return previous == '\n' || previous == '=' || previous == '[' || previous == ',' || previous == '{' ||
               (previous == '.' && key_context);
    };

    constexpr const char* kControl = "a control character (TOML allows only tab, newline and carriage return)";

    while (i < text.size()) {
        const auto c = static_cast<unsigned char>(text[i]);
        // Invalid anywhere in TOML; toml++ may read past one (a NUL in an array
        // was the third finding) and then misjudge what is a string.
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return problem(kControl);
        switch (state) {
            case State::normal:
                if (c >= 0x80) return problem(kOutside);
                // A bare value (number, date, boolean, or garbage): toml++ takes every
                // character up to a value terminator as part of it, quotes and brackets too.
                if (in_bare_value) {
                    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ']' || c == '}' || c == ',' || c == '#') {
                        in_bare_value = false;
                        continue;  // the terminator is read again below, outside the value
                    }
                    previous = static_cast<char>(c);
                    advance();
                    break;
                }
                if (c == '#') {
                    state = State::comment;
                } else if ((c == '"' || c == '\'') && string_may_start()) {
                    const bool multi = starts(c == '"' ? "\"\"\"" : "'''");
                    if (multi) advance(), advance();
                    state = c == '"' ? (multi ? State::multi_basic : State::basic)
                                     : (multi ? State::multi_literal : State::literal);
                    previous = static_cast<char>(c);
                } else if (c == '\n') {
                    at_newline();
                } else if (c != ' ' && c != '\t' && c != '\r') {
                    if (!key_context && c != '[' && c != '{' && c != ']' && c != '}' && c != ',' && c != '=')
                        in_bare_value = true;
                    if (c == '=') key_context = false;
                    else if ((c == '[' || c == '{') && !key_context && open_depth < sizeof open) open[open_depth++] = c == '[' ? 'a' : 't';
                    else if ((c == ']' || c == '}') && open_depth > 0) --open_depth;
                    if (c == '{' || (c == ',' && open_depth > 0)) key_context = open_depth > 0 && open[open_depth - 1] == 't';
                    previous = static_cast<char>(c);
                }
                advance();
                break;
            case State::comment:
                if (c == '\n') state = State::normal, at_newline();
                advance();
                break;
            case State::basic:
                if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') advance();  // the escaped character
                else if (c == '"') state = State::normal;
                else if (c == '\n') state = State::normal, at_newline();
                advance();
                break;
            case State::literal:
                if (c == '\'') state = State::normal;
                else if (c == '\n') state = State::normal, at_newline();
                advance();
                break;
            case State::multi_basic:
                if (c == '\\') {
                    advance();
                    if (i >= text.size()) break;
                    if (static_cast<unsigned char>(text[i]) >= 0x80) return problem(kAfterBackslash);
                    if (is_toml_whitespace(static_cast<unsigned char>(text[i]))) {
                        // A line-ending backslash: the whitespace that follows is skipped.
                        while (i < text.size() && is_toml_whitespace(static_cast<unsigned char>(text[i]))) advance();
                        if (i < text.size() && static_cast<unsigned char>(text[i]) >= 0x80)
                            return problem(kAfterBackslash);
                    } else {
                        advance();  // the escaped character
                    }
                } else if (starts("\"\"\"")) {
                    advance(), advance(), advance();
                    // Up to two more quotes belong to the string's content.
                    for (int extra = 0; extra < 2 && i < text.size() && text[i] == '"'; ++extra) advance();
                    state = State::normal;
                } else {
                    advance();
                }
                break;
            case State::multi_literal:
                if (starts("'''")) {
                    advance(), advance(), advance();
                    for (int extra = 0; extra < 2 && i < text.size() && text[i] == '\''; ++extra) advance();
                    state = State::normal;
                } else {
                    advance();
                }
                break;
        }
    }
    return std::nullopt;
}

}  // namespace bindguard::detail
