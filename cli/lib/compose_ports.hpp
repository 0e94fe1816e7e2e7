// One published port of a Compose service, as Compose reads it: the short syntax
// ("[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]") and the fields of the long syntax,
// with ${VAR}-style interpolation recognised but never resolved (the environment of
// `docker compose up` is not the checker's).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "bindguard/policy.hpp"

namespace bindguard::cli::compose {

// Where the host address of a mapping comes from.
enum class AddressKind {
    none,          // not written: Docker publishes on every host address
    literal,       // an IPv4 or IPv6 address
    interpolated,  // contains ${VAR} or $VAR: unknown until compose runs
};

struct PortSpec {
    AddressKind address_kind = AddressKind::none;
    std::string address;  // literal: without brackets ("::1"); interpolated: as written
    int family = 0;       // AF_INET or AF_INET6 for a literal address

    std::string published_text;           // the host port(s) as written; "" when none (Docker picks one)
    std::optional<PortRange> published;   // set when published_text is a literal port or range
    std::string target_text;              // the container port(s) as written

    std::string protocol_text;            // as written; "" when none (tcp)
    std::optional<Protocol> protocol;     // tcp, udp, other (sctp); nullopt when interpolated
};

// The text with each interpolation replaced by one '\x01' and each "$$" by '$', and for
// every character of the result the offset in the original text where it starts (one more
// entry at the end: the original's length). Lets a caller split on ':' and '/' without
// splitting inside "${VAR:-default}", then take the original text of each part back.
struct MaskedText {
    std::string masked;
    std::vector<std::size_t> origin;

    // The original text of masked[first, last). Returns it.
    std::string original(std::string_view text, std::size_t first, std::size_t last) const {
        return std::string(text.substr(origin[first], origin[last] - origin[first]));
    }
};

inline constexpr char kInterpolationMark = '\x01';

// Masks the interpolations of text as Compose recognises them: "$$", "$NAME", "${...}"
// (nested braces allowed). Returns the masked text, or an error message for a '$' that
// starts none of these or an unterminated "${".
std::variant<MaskedText, std::string> mask_interpolation(std::string_view text);

// True when text contains an interpolation (after "$$" escapes).
bool is_interpolated(const MaskedText& masked);

// Parses a short-syntax entry ("127.0.0.1:4000:4000", "[::1]:8080:80", "::1:6000:6000",
// "5000-5010:5000-5010", "3000", "6060:6060/udp", "127.0.0.1::5000"), splitting as Docker
// does: the last ':'-part is the container port, the one before the host port, the rest the
// host address. Returns the spec, or an error message naming what is wrong.
std::variant<PortSpec, std::string> parse_short_syntax(std::string_view text);

// The long syntax's fields, each as written (nullopt when absent). Returns the spec, or
// an error message naming the field that is wrong.
std::variant<PortSpec, std::string> parse_long_syntax(std::optional<std::string> target,
                                                      std::optional<std::string> published,
                                                      std::optional<std::string> host_ip,
                                                      std::optional<std::string> protocol);

}  // namespace bindguard::cli::compose
