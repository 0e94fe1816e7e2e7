// Random policies and requests for the differential tests of the policy library:
// the rule index and the compiled image, each against decide()'s scan.
#pragma once

#include <array>
#include <cstring>
#include <random>
#include <string>
#include <string_view>

#include "bindguard/policy.hpp"
#include "rule_index.hpp"

namespace bgunit {


using namespace bindguard;

// A TCP or UDP request to host 10.(h / 256).(h % 256).last_octet for a random h below
// hosts, on a random port in [first_port, first_port + ports): around policies whose
// rule i names host i (and often port base + i).
inline Request request_near_numbered_hosts(std::mt19937& random, int hosts, int last_octet, int first_port, int ports) {
    const int host = static_cast<int>(random() % static_cast<unsigned>(hosts));
    Request r;
    r.address.family = AF_INET;
    r.address.bytes = {10, static_cast<std::uint8_t>(host / 256), static_cast<std::uint8_t>(host % 256),
                       static_cast<std::uint8_t>(last_octet)};
    r.address.port = static_cast<std::uint16_t>(first_port + static_cast<int>(random() % static_cast<unsigned>(ports)));
    r.protocol = random() % 2 ? Protocol::tcp : Protocol::udp;
    return r;
}

// Random policies whose filters overlap a lot: CIDRs from a few bases with every prefix
// length, port ranges around a few ports, all three actions and protocols, and some
// service filters (which the index does not see and the scan after it must).
class RandomPolicies {
public:
    // With process_filters, rules also get program and command globs (which the index
    // does not see either), and requests a program and a command.
    explicit RandomPolicies(std::uint32_t seed, bool process_filters = false)
        : random_(seed), process_filters_(process_filters) {}

    Policy policy() {
        Policy p;
        p.default_action = pick<Action>({Action::allow, Action::rewrite, Action::deny});
        p.udp_ephemeral = coin() ? UdpEphemeral::allow : UdpEphemeral::apply;
        p.dual_stack = coin() ? DualStack::ipv4 : DualStack::ipv6;
        const int rules = between(1, 40);
        for (int i = 0; i < rules; ++i) p.rules.push_back(rule(i));
        detail::index_rules(p, 1);
        return p;
    }

    Request request() {
        Request r;
        const int kind = between(0, 2);
        if (kind == 0) {
            r.address.family = AF_INET;
            std::memcpy(r.address.bytes.data(), near(kV4Bases).data(), 4);
        } else if (kind == 1) {
            r.address.family = AF_INET6;
            r.address.bytes = near(kV6Bases);
        } else {
            r.address.family = AF_INET6;
            r.address.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            std::memcpy(r.address.bytes.data() + 12, near(kV4Bases).data(), 4);
        }
        r.address.port = port();
        r.protocol = pick<Protocol>({Protocol::tcp, Protocol::udp, Protocol::other});
        r.v6only = coin();
        r.service = pick<std::string_view>({"", "web", "api"});
        if (process_filters_) {
            r.program = pick<std::string_view>({"/usr/bin/node", "/usr/sbin/nginx", ""});
            r.command = pick<std::string_view>({"node server.mjs", "nginx -g daemon off;", ""});
        }
        return r;
    }

private:
    using Bytes = std::array<std::uint8_t, 16>;
    static constexpr Bytes kV4Bases[] = {{0, 0, 0, 0}, {10, 0, 0, 0}, {10, 1, 0, 0}, {10, 1, 2, 0},
                                         {10, 1, 2, 3}, {127, 0, 0, 1}, {192, 168, 1, 0}, {255, 255, 255, 255}};
    static constexpr Bytes kV6Bases[] = {
        {},                                                          // ::
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},            // ::1
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0},      // ::ffff:0.0.0.0
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3},     // ::ffff:10.1.2.3
        {0x20, 0x01, 0x0d, 0xb8},                                    // 2001:db8::
        {0xfe, 0x80},                                                // fe80::
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};

    int between(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
    bool coin() { return between(0, 1) == 1; }
    template <class T>
    T pick(std::initializer_list<T> options) {
        return options.begin()[between(0, static_cast<int>(options.size()) - 1)];
    }
    template <std::size_t N>
    const Bytes& base(const Bytes (&bases)[N]) {
        return bases[between(0, static_cast<int>(N) - 1)];
    }
    // A base with a few of its bits flipped at random, often none.
    template <std::size_t N>
    Bytes near(const Bytes (&bases)[N]) {
        Bytes bytes = base(bases);
        const bool ipv4 = N == std::size(kV4Bases);
        for (int flips = between(-2, 2); flips > 0; --flips) {
            const int bit = between(ipv4 ? 0 : 0, ipv4 ? 31 : 127);
            bytes[static_cast<std::size_t>(bit / 8)] ^= static_cast<std::uint8_t>(0x80 >> (bit % 8));
        }
        return bytes;
    }
    std::uint16_t port() {
        static constexpr std::uint16_t kPorts[] = {0, 1, 52, 53, 54, 79, 80, 443, 7999, 8000, 8080, 8999, 9000, 65535};
        return coin() ? kPorts[between(0, static_cast<int>(std::size(kPorts)) - 1)]
                      : static_cast<std::uint16_t>(between(0, 65535));
    }

    Cidr cidr() {
        Cidr c;
        if (coin()) {
            c.family = AF_INET;
            std::memcpy(c.bytes.data(), near(kV4Bases).data(), 4);
            c.prefix = static_cast<std::uint8_t>(between(0, 32));
        } else {
            c.family = AF_INET6;
            c.bytes = near(kV6Bases);
            c.prefix = static_cast<std::uint8_t>(pick<int>({0, 8, 64, 95, 96, 97, 104, 112, 120, 127, 128, between(0, 128)}));
        }
        const unsigned bits = c.family == AF_INET ? 32u : 128u;
        for (unsigned bit = c.prefix; bit < bits; ++bit)  // masked to the prefix, as the parser leaves it
            c.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
        return c;
    }

    Rule rule(int i) {
        Rule r;
        r.name = "rule-" + std::to_string(i);
        r.action = pick<Action>({Action::allow, Action::rewrite, Action::deny});
        r.protocol = pick<Protocol>({Protocol::tcp, Protocol::udp, Protocol::any});
        for (int n = between(-1, 3); n > 0; --n) r.addresses.push_back(cidr());
        for (int n = between(-1, 3); n > 0; --n) {
            std::uint16_t a = port(), b = coin() ? a : port();
            if (a > b) std::swap(a, b);
            r.ports.push_back({a, b});
        }
        if (between(0, 5) == 0) r.service = pick<std::string>({"web", "api"});
        if (process_filters_ && between(0, 5) == 0) r.program = pick<std::string>({"/usr/bin/*", "*/nginx", "/nowhere"});
        if (process_filters_ && between(0, 7) == 0) r.command = pick<std::string>({"node *", "*daemon*", "x"});
        return r;
    }

    std::mt19937 random_;
    bool process_filters_ = false;
};

}  // namespace bgunit
