// The compiled rule index against decide()'s scan: the same decisions, rule names
// included, on random policies and random requests; when an index is built; and the
// fallback to the scan for a policy too large to index.
#include <cstring>
#include <random>

#include "rule_index.hpp"
#include "test_util.hpp"

using namespace bindguard;
using namespace bgunit;

namespace {

// Random policies whose filters overlap a lot: CIDRs from a few bases with every prefix
// length, port ranges around a few ports, all three actions and protocols, and some
// service filters (which the index does not see and the scan after it must).
class RandomPolicies {
public:
    explicit RandomPolicies(std::uint32_t seed) : random_(seed) {}

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
        return r;
    }

    std::mt19937 random_;
};

// decide() with the index and with the scan alone, compared field by field.
::testing::AssertionResult same_decision(const Policy& indexed, const Policy& scanned, const Request& r) {
    const Decision a = decide(indexed, r), b = decide(scanned, r);
    if (a.action == b.action && a.address == b.address && std::strcmp(a.rule, b.rule) == 0)
        return ::testing::AssertionSuccess();
    char request_text[64];
    format_endpoint(r.address, request_text, sizeof request_text);
    return ::testing::AssertionFailure() << "request " << request_text << " proto " << to_string(r.protocol)
                                         << " service '" << r.service << "': index says " << to_string(a.action)
                                         << " rule " << a.rule << ", scan says " << to_string(b.action) << " rule "
                                         << b.rule;
}

TEST(RuleIndex, SameDecisionsAsTheScanOnAMillionRandomRequests) {
    RandomPolicies random(20261127);
    std::size_t requests = 0;
    for (int round = 0; round < 2500; ++round) {
        const Policy indexed = random.policy();
        ASSERT_NE(indexed.index, nullptr);
        Policy scanned = indexed;
        scanned.index.reset();
        for (int i = 0; i < 400; ++i, ++requests) {
            const Request r = random.request();
            ASSERT_TRUE(same_decision(indexed, scanned, r)) << "round " << round;
        }
    }
    EXPECT_GE(requests, 1'000'000u);
}

// count [[rule]] tables, rule i allowing port 8080 on 10.(i/256).(i%256).0/24.
std::string rules_text(int count) {
    std::string text;
    for (int i = 0; i < count; ++i)
        text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\naction = \"allow\"\naddress = [\"10." +
                std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\"]\nport = [8080]\n";
    return text;
}

std::string many_rules_text(int count) { return "version = 1\n" + rules_text(count); }

TEST(RuleIndex, ParsedPoliciesOfEightRulesOrMoreAreIndexed) {
    EXPECT_EQ(policy(many_rules_text(7)).index, nullptr);
    const Policy p = policy(many_rules_text(8));
    ASSERT_NE(p.index, nullptr);
    EXPECT_EQ(explain(p, request("10.0.7.9:8080")), "allow tcp 10.0.7.9:8080 (rule r7)");
    EXPECT_EQ(explain(p, request("10.0.8.9:8080")), "rewrite tcp 10.0.8.9:8080 -> 127.0.0.1:8080 (rule default)");
    EXPECT_EQ(policy("version = 1\n").index, nullptr);
}

TEST(RuleIndex, ForProcessIndexesTheRulesItKeeps) {
    std::string text = many_rules_text(20) + "[[rule]]\nname = \"web-only\"\naction = \"deny\"\nservice = \"web\"\n";
    const Policy full = policy(text);
    const Policy web = for_process(full, "/usr/bin/node", "node", "web");
    ASSERT_NE(web.index, nullptr);
    EXPECT_EQ(web.rules.size(), 21u);
    EXPECT_EQ(explain(web, request("10.0.19.1:8080")), "allow tcp 10.0.19.1:8080 (rule r19)");
    EXPECT_EQ(explain(web, request("10.0.19.1:8081")), "deny tcp 10.0.19.1:8081 -> EACCES (rule web-only)");
    const Policy api = for_process(full, "/usr/bin/node", "node", "api");
    EXPECT_EQ(explain(api, request("10.0.19.1:8081")), "rewrite tcp 10.0.19.1:8081 -> 127.0.0.1:8081 (rule default)");
}

// A rule with a service filter that fails is skipped by the scan after the index.
TEST(RuleIndex, TheScanAfterTheIndexAppliesServiceFilters) {
    std::string text = "version = 1\n[[rule]]\nname = \"web-public\"\naction = \"allow\"\nservice = \"web\"\nport = [3000]\n";
    text += rules_text(10);
    text += "[[rule]]\nname = \"port-3000\"\naction = \"deny\"\nport = [3000]\n";
    const Policy p = policy(text);
    ASSERT_NE(p.index, nullptr);
    Request r = request("0.0.0.0:3000");
    r.service = "web";
    EXPECT_EQ(explain(p, r), "allow tcp 0.0.0.0:3000 (rule web-public)");
    r.service = "api";
    EXPECT_EQ(explain(p, r), "deny tcp 0.0.0.0:3000 -> EACCES (rule port-3000)");
}

// Thousands of rules without an address filter, each in every address interval of
// thousands of rules with one: past the build budget, so the policy is scanned, rightly.
TEST(RuleIndex, APolicyTooLargeToIndexIsScanned) {
    Policy p;
    for (int i = 0; i < 3000; ++i) {
        Rule with_address;
        with_address.name = "a" + std::to_string(i);
        with_address.addresses.push_back(
            Cidr{AF_INET, {10, static_cast<std::uint8_t>(i / 256), static_cast<std::uint8_t>(i % 256), 1}, 32});
        p.rules.push_back(with_address);
        Rule with_port;
        with_port.name = "p" + std::to_string(i);
        with_port.action = Action::deny;
        with_port.ports.push_back({static_cast<std::uint16_t>(10000 + i), static_cast<std::uint16_t>(10000 + i)});
        p.rules.push_back(with_port);
    }
    detail::index_rules(p);
    EXPECT_EQ(p.index, nullptr);
    EXPECT_EQ(explain(p, request("10.11.183.1:12999")), "allow tcp 10.11.183.1:12999 (rule a2999)");
    EXPECT_EQ(explain(p, request("10.11.184.1:12999")), "deny tcp 10.11.184.1:12999 -> EACCES (rule p2999)");
}

}  // namespace
