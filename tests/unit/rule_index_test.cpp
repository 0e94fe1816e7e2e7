// The compiled rule index against decide()'s scan: the same decisions, rule names
// included, on random policies and random requests; when an index is built; and the
// fallback to the scan for a policy too large to index.
#include <cstring>
#include <random>

#include "random_policies.hpp"
#include "rule_index.hpp"
#include "test_util.hpp"

using namespace bindguard;
using namespace bgunit;

namespace {

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

// A million random requests, decided with the index built within limits and by the
// scan alone; tree: whether the index must be the segment-tree form.
void same_decisions_as_the_scan(std::uint32_t seed, const detail::IndexLimits& limits, bool tree) {
    RandomPolicies random(seed);
    std::size_t requests = 0;
    for (int round = 0; round < 2500; ++round) {
        Policy indexed = random.policy();
        detail::index_rules(indexed, 1, limits);
        ASSERT_NE(indexed.index, nullptr);
        ASSERT_EQ(indexed.index->is_tree(), tree);
        Policy scanned = indexed;
        scanned.index.reset();
        for (int i = 0; i < 400; ++i, ++requests) {
            const Request r = random.request();
            ASSERT_TRUE(same_decision(indexed, scanned, r)) << "round " << round;
        }
    }
    EXPECT_GE(requests, 1'000'000u);
}

TEST(RuleIndex, SameDecisionsAsTheScanOnAMillionRandomRequests) {
    same_decisions_as_the_scan(20261127, detail::IndexLimits{}, false);
}

// The segment-tree form (what a policy too large for the table gets), forced by limits
// of zero.
TEST(RuleIndex, TheTreeFormDecidesAsTheScanOnAMillionRandomRequests) {
    same_decisions_as_the_scan(20261202, detail::IndexLimits{0, 0, 0}, true);
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
// thousands of rules with one: a table of 36 million cells, past the limits, so the
// index is the segment tree, and decides as the scan does.
TEST(RuleIndex, APolicyTooLargeForTheTableIsIndexedAsATree) {
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
    ASSERT_NE(p.index, nullptr);
    EXPECT_TRUE(p.index->is_tree());
    EXPECT_EQ(explain(p, request("10.11.183.1:12999")), "allow tcp 10.11.183.1:12999 (rule a2999)");
    EXPECT_EQ(explain(p, request("10.11.184.1:12999")), "deny tcp 10.11.184.1:12999 -> EACCES (rule p2999)");
    Policy scanned = p;
    scanned.index.reset();
    std::mt19937 random(7);
    for (int i = 0; i < 20000; ++i) {
        const Request r = request_near_numbered_hosts(random, 3100, 1, 9990, 3020);
        ASSERT_TRUE(same_decision(p, scanned, r));
    }
}

}  // namespace
