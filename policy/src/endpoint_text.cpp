// parse_endpoint(): endpoints as written in policies and on command lines.
#include <arpa/inet.h>

#include <string>

#include "bindguard/policy.hpp"

namespace bindguard {
namespace {

// Parses a decimal port "0".."65535"; nullopt for anything else.
std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

}  // namespace

std::optional<Endpoint> parse_endpoint(std::string_view text) {
    Endpoint ep;
    std::string host;
    std::string_view port_text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return std::nullopt;
        host = std::string(text.substr(1, close - 1));
        port_text = text.substr(close + 2);
        ep.family = AF_INET6;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = std::string(text.substr(0, colon));
        port_text = text.substr(colon + 1);
        ep.family = AF_INET;
    }
    const auto port = parse_port(port_text);
    if (!port || inet_pton(ep.family, host.c_str(), ep.bytes.data()) != 1) return std::nullopt;
    ep.port = *port;
    return ep;
}

}  // namespace bindguard
