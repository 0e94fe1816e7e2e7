// Compose port mappings: interpolation masking and the short and long syntax.
#include "compose_ports.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <vector>

namespace bindguard::cli::compose {
namespace {

bool is_name_start(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// A port number 0-65535 in text (digits only). Returns it, or nullopt.
std::optional<std::uint16_t> port_number(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// "4000" or "5000-5010". Returns the range, or nullopt when text is neither.
std::optional<PortRange> port_range(std::string_view text) {
    std::size_t dash = text.find('-');
    if (dash == std::string_view::npos) {
        auto port = port_number(text);
        if (!port) return std::nullopt;
        return PortRange{*port, *port};
    }
    auto first = port_number(text.substr(0, dash));
    auto last = port_number(text.substr(dash + 1));
    if (!first || !last || *first > *last) return std::nullopt;
    return PortRange{*first, *last};
}

// Parses the protocol as written ("" is tcp). Returns the error message, or "" when valid;
// sets spec.protocol (left unset when interpolated).
std::string set_protocol(PortSpec& spec, std::string_view written, bool interpolated) {
    spec.protocol_text = std::string(written);
    if (interpolated) return "";
    if (written.empty() || written == "tcp") spec.protocol = Protocol::tcp;
    else if (written == "udp") spec.protocol = Protocol::udp;
    else if (written == "sctp") spec.protocol = Protocol::other;
    else return "unknown protocol \"" + std::string(written) + "\" (tcp, udp or sctp)";
    return "";
}

// Parses the host address as written (brackets allowed around IPv6). Returns the error
// message, or "" when valid; sets spec.address_kind, address and family.
std::string set_address(PortSpec& spec, std::string_view written, bool interpolated) {
    if (written.empty()) return "";
    if (interpolated) {
        spec.address_kind = AddressKind::interpolated;
        spec.address = std::string(written);
        return "";
    }
    std::string address(written);
    if (address.front() == '[') {
        if (address.size() < 3 || address.back() != ']') return "invalid host address \"" + address + "\"";
        address = address.substr(1, address.size() - 2);
    }
    unsigned char bytes[16];
    if (::inet_pton(AF_INET, address.c_str(), bytes) == 1) spec.family = AF_INET;
    else if (::inet_pton(AF_INET6, address.c_str(), bytes) == 1) spec.family = AF_INET6;
    else return "invalid host address \"" + std::string(written) + "\"";
    spec.address_kind = AddressKind::literal;
    spec.address = address;
    return "";
}

// Checks the published and target ports as written and how their ranges fit together.
// Returns the error message, or "" when valid; sets spec.published for a literal host port.
std::string set_ports(PortSpec& spec, std::string_view published, bool published_interpolated,
                      std::string_view target, bool target_interpolated) {
    spec.published_text = std::string(published);
    spec.target_text = std::string(target);
    std::optional<PortRange> target_range;
    if (!target_interpolated) {
        if (target.empty()) return "no container port";
        target_range = port_range(target);
        if (!target_range || target_range->first == 0)
            return "invalid container port \"" + std::string(target) + "\" (a port 1-65535 or a range FIRST-LAST)";
    }
    if (!published.empty() && !published_interpolated) {
        spec.published = port_range(published);
        if (!spec.published)
            return "invalid host port \"" + std::string(published) + "\" (a port 0-65535 or a range FIRST-LAST)";
        if (target_range && target_range->first != target_range->last &&
            target_range->last - target_range->first != spec.published->last - spec.published->first)
            return "the host ports \"" + std::string(published) + "\" and the container ports \"" + std::string(target) +
                   "\" are ranges of different sizes";
        if (spec.published->first == 0 && spec.published->last == 0) spec.published.reset();  // 0: Docker picks one
    }
    return "";
}

// Splits masked.masked[first, last) at every ':'. Returns the [begin, end) of each part.
std::vector<std::pair<std::size_t, std::size_t>> split_colons(const std::string& masked, std::size_t first, std::size_t last) {
    std::vector<std::pair<std::size_t, std::size_t>> parts;
    std::size_t begin = first;
    for (std::size_t i = first; i < last; ++i) {
        if (masked[i] != ':') continue;
        parts.emplace_back(begin, i);
        begin = i + 1;
    }
    parts.emplace_back(begin, last);
    return parts;
}

bool has_mark(const std::string& masked, std::size_t first, std::size_t last) {
    return masked.find(kInterpolationMark, first) < last;
}

}  // namespace

std::variant<MaskedText, std::string> mask_interpolation(std::string_view text) {
    MaskedText result;
    std::size_t i = 0;
    while (i < text.size()) {
        result.origin.push_back(i);
        if (text[i] != '$') {
            result.masked += text[i++];
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '$') {
            result.masked += '$';
            i += 2;
        } else if (i + 1 < text.size() && text[i + 1] == '{') {
            std::size_t depth = 0, j = i + 1;
            for (; j < text.size(); ++j) {
                if (text[j] == '{') ++depth;
                else if (text[j] == '}' && --depth == 0) break;
            }
            if (j == text.size()) return "unterminated \"${\" in \"" + std::string(text) + "\"";
            if (j == i + 2 || !is_name_start(text[i + 2])) return "invalid interpolation \"" + std::string(text.substr(i, j - i + 1)) + "\"";
            result.masked += kInterpolationMark;
            i = j + 1;
        } else if (i + 1 < text.size() && is_name_start(text[i + 1])) {
            std::size_t j = i + 1;
            while (j < text.size() && is_name_char(text[j])) ++j;
            result.masked += kInterpolationMark;
            i = j;
        } else {
            return "invalid interpolation: a '$' in \"" + std::string(text) + "\" starts no variable (write \"$$\" for a '$')";
        }
    }
    result.origin.push_back(text.size());
    return result;
}

bool is_interpolated(const MaskedText& masked) { return masked.masked.find(kInterpolationMark) != std::string::npos; }

std::variant<PortSpec, std::string> parse_short_syntax(std::string_view text) {
    auto masking = mask_interpolation(text);
    if (auto* error = std::get_if<std::string>(&masking)) return *error;
    const MaskedText& m = std::get<MaskedText>(masking);
    const std::string& s = m.masked;
    if (s.empty()) return std::string("an empty port mapping");

    PortSpec spec;
    std::size_t end = s.size();
    std::size_t slash = s.rfind('/');
    std::string error;
    if (slash != std::string::npos) {
        error = set_protocol(spec, m.original(text, slash + 1, s.size()), has_mark(s, slash + 1, s.size()));
        end = slash;
    } else {
        error = set_protocol(spec, "", false);
    }
    if (!error.empty()) return error;

    auto parts = split_colons(s, 0, end);
    auto original = [&](std::pair<std::size_t, std::size_t> part) { return m.original(text, part.first, part.second); };
    auto marked = [&](std::pair<std::size_t, std::size_t> part) { return has_mark(s, part.first, part.second); };
    std::pair<std::size_t, std::size_t> target = parts.back();
    std::pair<std::size_t, std::size_t> published{0, 0};
    if (parts.size() >= 2) published = parts[parts.size() - 2];
    if (parts.size() >= 3) {
        std::pair<std::size_t, std::size_t> address{parts.front().first, parts[parts.size() - 3].second};
        error = set_address(spec, original(address), marked(address));
        if (!error.empty()) return error;
    }
    error = set_ports(spec, original(published), marked(published), original(target), marked(target));
    if (!error.empty()) return error;
    return spec;
}

std::variant<PortSpec, std::string> parse_long_syntax(std::optional<std::string> target,
                                                      std::optional<std::string> published,
                                                      std::optional<std::string> host_ip,
                                                      std::optional<std::string> protocol) {
    // Each field is interpolated on its own; a field is "interpolated" when any part is.
    auto masked = [](const std::optional<std::string>& field, bool& interpolated) -> std::string {
        interpolated = false;
        if (!field) return "";
        auto masking = mask_interpolation(*field);
        if (auto* error = std::get_if<std::string>(&masking)) return *error;
        interpolated = is_interpolated(std::get<MaskedText>(masking));
        return "";
    };
    bool target_var = false, published_var = false, address_var = false, protocol_var = false;
    for (auto [field, flag] : {std::pair{&target, &target_var}, std::pair{&published, &published_var},
                               std::pair{&host_ip, &address_var}, std::pair{&protocol, &protocol_var}}) {
        std::string error = masked(*field, *flag);
        if (!error.empty()) return error;
    }
    if (!target) return std::string("no \"target\" (the container port)");
    PortSpec spec;
    std::string error = set_protocol(spec, protocol.value_or(""), protocol_var);
    if (error.empty() && host_ip) error = host_ip->empty() ? "" : set_address(spec, *host_ip, address_var);
    if (error.empty()) error = set_ports(spec, published.value_or(""), published_var, *target, target_var);
    if (!error.empty()) return error;
    return spec;
}

}  // namespace bindguard::cli::compose
