// The strict text log line reader (see log_line.hpp).
#include "support/log_line.hpp"

namespace bgtest {
namespace {

bool escaped_by_writer(unsigned char c) { return c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '='; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Unescapes a field value; nullopt when the library could not have written it.
std::optional<std::string> unescape(std::string_view text) {
    if (text == "-") return std::string();
    if (text.empty()) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\\') {
            if (i + 4 > text.size() || text[i + 1] != 'x') return std::nullopt;
            const int high = hex_value(text[i + 2]);
            const int low = hex_value(text[i + 3]);
            if (high < 0 || low < 0) return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 3;
        } else if (escaped_by_writer(c)) {
            return std::nullopt;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

bool valid_key(std::string_view key) {
    if (key.empty()) return false;
    for (char c : key)
        if (!(c >= 'a' && c <= 'z') && c != '_') return false;
    return true;
}

}  // namespace

std::optional<std::string> TextLogLine::field(std::string_view key) const {
    for (const auto& [name, value] : fields)
        if (name == key) return value;
    return std::nullopt;
}

std::optional<TextLogLine> parse_text_log_line(std::string_view line) {
    constexpr std::string_view kPrefix = "bindguard[";
    if (line.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
    std::size_t i = kPrefix.size();
    TextLogLine out;
    const std::size_t digits_start = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9' && i - digits_start < 10)
        out.pid = out.pid * 10 + static_cast<unsigned long>(line[i++] - '0');
    if (i == digits_start || line.substr(i, 3) != "]: ") return std::nullopt;
    std::string_view rest = line.substr(i + 3);
    if (rest.empty()) return std::nullopt;
    while (true) {
        const std::size_t space = rest.find(' ');
        const std::string_view token = rest.substr(0, space);
        if (token.empty()) return std::nullopt;
        const std::size_t equals = token.find('=');
        if (equals == std::string_view::npos) {
            if (!out.fields.empty()) return std::nullopt;
            for (char c : token)
                if (escaped_by_writer(static_cast<unsigned char>(c))) return std::nullopt;
            out.words.emplace_back(token);
        } else {
            const std::string_view key = token.substr(0, equals);
            if (!valid_key(key) || out.field(key)) return std::nullopt;
            auto value = unescape(token.substr(equals + 1));
            if (!value) return std::nullopt;
            out.fields.emplace_back(std::string(key), std::move(*value));
        }
        if (space == std::string_view::npos) break;
        rest = rest.substr(space + 1);
    }
    return out;
}

std::string escape_text_field(std::string_view value) {
    if (value.empty()) return "-";
    if (value == "-") return "\\x2d";
    std::string out;
    for (char ch : value) {
        const auto c = static_cast<unsigned char>(ch);
        if (escaped_by_writer(c)) {
            constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        } else {
            out.push_back(ch);
        }
    }
    return out;
}

}  // namespace bgtest
