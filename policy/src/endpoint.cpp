// Endpoints and CIDRs: formatting, classification and matching (part of the freestanding
// core that the preload library runs; parsing is in endpoint_text.cpp).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>

#include "bindguard/policy.hpp"
#include "internal.hpp"

namespace bindguard {
namespace {

constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// The IPv4 address of an AF_INET or v4-mapped AF_INET6 endpoint, or nullptr.
const std::uint8_t* ipv4_bytes(const Endpoint& ep) noexcept {
    if (ep.family == AF_INET) return ep.bytes.data();
    if (detail::is_v4_mapped(ep)) return ep.bytes.data() + 12;
    return nullptr;
}

// True when the first `bits` bits of a and b are equal.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) noexcept {
    const unsigned whole = bits / 8;
    if (std::memcmp(a, b, whole) != 0) return false;
    const unsigned rest = bits % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

bool detail::is_v4_mapped(const Endpoint& ep) noexcept {
    return ep.family == AF_INET6 && std::memcmp(ep.bytes.data(), kV4MappedPrefix, 12) == 0;
}

std::size_t format_endpoint(const Endpoint& ep, char* buf, std::size_t size) noexcept {
    if (size == 0) return 0;
    char host[INET6_ADDRSTRLEN] = "?";
    if (ep.family == AF_INET || ep.family == AF_INET6)
        inet_ntop(ep.family, ep.bytes.data(), host, sizeof host);
    const char* format = ep.family == AF_INET6 ? "[%s]:%u" : "%s:%u";
    const int n = std::snprintf(buf, size, format, host, static_cast<unsigned>(ep.port));
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return static_cast<std::size_t>(n) < size ? static_cast<std::size_t>(n) : size - 1;
}

bool is_loopback(const Endpoint& ep) noexcept {
    if (const auto* v4 = ipv4_bytes(ep)) return v4[0] == 127;
    if (ep.family != AF_INET6) return false;
    static constexpr std::uint8_t kIpv6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return std::memcmp(ep.bytes.data(), kIpv6Loopback, 16) == 0;
}

bool is_wildcard(const Endpoint& ep) noexcept {
    static constexpr std::uint8_t kZero[16] = {};
    if (const auto* v4 = ipv4_bytes(ep)) return std::memcmp(v4, kZero, 4) == 0;
    return ep.family == AF_INET6 && std::memcmp(ep.bytes.data(), kZero, 16) == 0;
}

bool Cidr::contains(const Endpoint& ep) const noexcept {
    if (family == AF_INET) {
        const auto* v4 = ipv4_bytes(ep);
        return v4 != nullptr && same_prefix(bytes.data(), v4, prefix);
    }
    return family == AF_INET6 && ep.family == AF_INET6 && same_prefix(bytes.data(), ep.bytes.data(), prefix);
}

bool Cidr::covers(const Cidr& other) const noexcept {
    if (family == other.family)
        return prefix <= other.prefix && same_prefix(bytes.data(), other.bytes.data(), prefix);
    // An IPv4 CIDR covers the part of an IPv6 CIDR that lies inside ::ffff:0:0/96.
    if (family == AF_INET && other.family == AF_INET6 && other.prefix >= 96 &&
        std::memcmp(other.bytes.data(), kV4MappedPrefix, 12) == 0)
        return prefix + 96u <= other.prefix && same_prefix(bytes.data(), other.bytes.data() + 12, prefix);
    // An IPv6 CIDR never covers an IPv4 one: it does not match AF_INET endpoints.
    return false;
}

}  // namespace bindguard
