// The compiled policy image: the library's reader decides as decide() on the parsed
// policy (a million random requests, process filters and services included), the bytes
// are deterministic, and damaged images are refused or decided from, never misread.
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "bindguard/compile.hpp"
#include "bindguard/image_view.hpp"
#include "random_policies.hpp"
#include "test_util.hpp"

using namespace bindguard;
using namespace bgunit;

namespace {

image::SourceIdentity identity_of(const std::string& path = "/etc/bindguard/test.toml") {
    image::SourceIdentity source;
    source.path = path;
    source.device = 2049;
    source.inode = 1234;
    source.size = 99;
    source.mtime_sec = 1700000000;
    source.mtime_nsec = 123456789;
    source.content_hash = 42;
    return source;
}

// An image's bytes in storage aligned as the header needs (a std::vector's are, but a
// copy that the test shortens must stay so too).
struct Bytes {
    std::vector<unsigned char> data;
    image::Problem check(image::PolicyImage& out, bool verify = true) const {
        return image::PolicyImage::check(data.data(), data.size(), verify, out);
    }
};

Bytes compiled(const Policy& policy) { return {image::compile(policy, identity_of())}; }

::testing::AssertionResult same_decision(const Policy& policy, const image::ProcessPolicy& process, const Request& r) {
    const Decision a = decide(policy, r), b = process.decide(r);
    if (a.action == b.action && a.address == b.address && std::strcmp(a.rule, b.rule) == 0)
        return ::testing::AssertionSuccess();
    char request_text[64];
    format_endpoint(r.address, request_text, sizeof request_text);
    return ::testing::AssertionFailure() << "request " << request_text << " proto " << to_string(r.protocol)
                                         << " service '" << r.service << "' program '" << r.program << "' command '"
                                         << r.command << "': decide() says " << to_string(a.action) << " rule "
                                         << a.rule << ", the image says " << to_string(b.action) << " rule " << b.rule;
}

// A million random requests against decide() by the plain scan, the groups' indexes
// built within limits (the default: tables; zero: segment trees).
void decides_as_decide(std::uint32_t seed, const detail::IndexLimits& limits, std::uint32_t expected_indexed) {
    RandomPolicies random(seed, true);
    std::size_t requests = 0, tables = 0, tables6 = 0;
    std::vector<std::atomic<std::uint8_t>> memo_storage(64);
    for (int round = 0; round < 2500; ++round) {
        Policy policy = random.policy();
        policy.index.reset();  // decide() by the plain scan: the reference
        const Bytes bytes{image::compile(policy, identity_of(), limits)};
        image::PolicyImage view;
        ASSERT_EQ(bytes.check(view), image::Problem::none);
        for (std::uint32_t g = 0; g < view.header().group_count; ++g) {
            ASSERT_NE(view.group(g), nullptr);
            if (view.group(g)->rule_count >= detail::kIndexMinRules) {
                ASSERT_EQ(view.group(g)->indexed, expected_indexed);
            }
            const bg_image_group& group = *view.group(g);
            if (group.ipv4_buckets.count != 0) ++tables;
            if (group.ipv6_buckets.count != 0) ++tables6;
        }
        // One process identity per 100 requests, as the library binds one per process.
        for (int p = 0; p < 4; ++p) {
            Request identity = random.request();
            for (auto& slot : memo_storage) slot.store(0);
            const std::string program(identity.program), command(identity.command), service(identity.service);
            // Half the processes remember filter results, half match them each time.
            const image::FilterMemo memo = p % 2 == 0 ? image::FilterMemo{memo_storage.data(), 64} : image::FilterMemo{};
            const image::ProcessPolicy process(view, program.c_str(), command.c_str(), service.c_str(), memo);
            ASSERT_TRUE(process.valid());
            for (int i = 0; i < 100; ++i, ++requests) {
                Request r = random.request();
                r.program = program;
                r.command = command;
                r.service = service;
                ASSERT_TRUE(same_decision(policy, process, r)) << "round " << round;
            }
        }
    }
    EXPECT_GE(requests, 1'000'000u);
    // The first-level tables of the maps were read, not only the maps' whole searches.
    EXPECT_GE(tables, 100u);
    EXPECT_GE(tables6, 50u);
}

TEST(PolicyImage, DecidesAsDecideOnAMillionRandomRequests) {
    decides_as_decide(20261202, detail::IndexLimits{}, 1);
}

TEST(PolicyImage, ItsSegmentTreesDecideAsDecideOnAMillionRandomRequests) {
    decides_as_decide(20261203, detail::IndexLimits{0, 0, 0}, 2);
}

TEST(PolicyImage, TheSameSourceGivesTheSameBytes) {
    RandomPolicies random(7, true);
    for (int i = 0; i < 50; ++i) {
        const Policy policy = random.policy();
        EXPECT_EQ(image::compile(policy, identity_of()), image::compile(policy, identity_of()));
    }
}

TEST(PolicyImage, KeepsTheSettingsAndTheSource) {
    const Policy p = policy(R"(version = 1
mode = "audit"
[loopback]
ipv4 = "127.0.0.2"
dual_stack = "ipv6"
[default]
action = "deny"
udp_ephemeral = "apply"
[log]
to = "file"
path = "/var/log/bg.log"
format = "json"
level = "debug"
rate = 7
[children]
inherit = false
)");
    const Bytes bytes = compiled(p);
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view), image::Problem::none);
    EXPECT_EQ(view.mode(), Mode::audit);
    EXPECT_EQ(view.default_action(), Action::deny);
    EXPECT_EQ(view.dual_stack(), DualStack::ipv6);
    EXPECT_EQ(view.udp_ephemeral(), UdpEphemeral::apply);
    EXPECT_FALSE(view.children_inherit());
    EXPECT_EQ(view.log_to(), LogSink::file);
    EXPECT_STREQ(view.log_path(), "/var/log/bg.log");
    EXPECT_EQ(view.log_format(), LogFormat::json);
    EXPECT_EQ(view.log_level(), LogLevel::debug);
    EXPECT_EQ(view.log_rate(), 7u);
    EXPECT_EQ(text(view.loopback_ipv4()), "127.0.0.2:0");
    EXPECT_STREQ(view.source_path(), "/etc/bindguard/test.toml");
    EXPECT_EQ(view.header().source.inode, 1234u);
    EXPECT_EQ(view.header().source.mtime_nsec, 123456789);
}

// count rules as the benchmark generates them: rule i allows TCP 8000-8999 on its own /24.
Policy generated(int count) {
    std::string text = "version = 1\n";
    for (int i = 0; i < count; ++i)
        text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\naction = \"allow\"\naddress = [\"10." +
                std::to_string(i / 256) + "." + std::to_string(i % 256) + ".0/24\"]\nport = [\"8000-8999\"]\n";
    return policy(text);
}

// count rules, rule i allowing TCP 8080 on 10.0.i.0/24.
std::string many_rules_policy_text(int count) {
    std::string text = "version = 1\n";
    for (int i = 0; i < count; ++i)
        text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\naction = \"allow\"\naddress = [\"10.0." +
                std::to_string(i) + ".0/24\"]\nport = [8080]\nprotocol = \"tcp\"\n";
    return text;
}

TEST(PolicyImage, TenThousandRulesAreIndexedAndDecided) {
    const Policy p = generated(10000);
    const Bytes bytes = compiled(p);
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view), image::Problem::none);
    ASSERT_NE(view.group(0), nullptr);
    EXPECT_EQ(view.group(0)->indexed, 1u);
    const image::ProcessPolicy process(view, "/usr/bin/node", "node", "");
    EXPECT_STREQ(process.decide(request("10.39.15.7:8080")).rule, "r9999");
    EXPECT_STREQ(process.decide(request("10.39.16.7:8080")).rule, "default");
    EXPECT_STREQ(process.decide(request("10.0.0.7:9000")).rule, "default");
}

// Rule i allows its own address on its own port: the table would have (2n+1)^2 cells,
// so the image holds segment trees, and still decides as decide() does.
TEST(PolicyImage, DistinctAddressesAndPortsAreIndexedAsTrees) {
    std::string text = "version = 1\n";
    for (int i = 0; i < 3000; ++i)
        text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\naction = \"allow\"\naddress = [\"10." +
                std::to_string(i / 256) + "." + std::to_string(i % 256) + ".9\"]\nport = [" +
                std::to_string(20000 + i) + "]\nprotocol = \"tcp\"\n";
    Policy p = policy(text);
    const Bytes bytes = compiled(p);
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view), image::Problem::none);
    ASSERT_NE(view.group(0), nullptr);
    EXPECT_EQ(view.group(0)->indexed, 2u);
    const image::ProcessPolicy process(view, "/usr/bin/node", "node", "");
    EXPECT_STREQ(process.decide(request("10.11.183.9:22999")).rule, "r2999");
    EXPECT_STREQ(process.decide(request("10.11.183.9:22998")).rule, "default");
    p.index.reset();
    std::mt19937 random(11);
    for (int i = 0; i < 20000; ++i) {
        const Request r = request_near_numbered_hosts(random, 3100, 9, 19990, 3020);
        ASSERT_TRUE(same_decision(p, process, r));
    }
}

TEST(PolicyImage, AProcessReadsItsOwnServiceGroup) {
    const Policy p = policy(R"(version = 1
[[rule]]
name = "web-public"
action = "allow"
service = "web"
port = [3000]
[[rule]]
name = "nginx"
action = "allow"
program = "*/nginx"
port = [443]
[[rule]]
name = "api-deny"
action = "deny"
service = "api"
)");
    const Bytes bytes = compiled(p);
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view), image::Problem::none);
    EXPECT_EQ(view.header().group_count, 3u);
    const image::ProcessPolicy web(view, "/usr/bin/node", "node", "web");
    EXPECT_STREQ(web.decide(request("0.0.0.0:3000")).rule, "web-public");
    EXPECT_STREQ(web.decide(request("0.0.0.0:443")).rule, "default");
    const image::ProcessPolicy api(view, "/usr/sbin/nginx", "nginx", "api");
    EXPECT_STREQ(api.decide(request("0.0.0.0:443")).rule, "nginx");
    EXPECT_STREQ(api.decide(request("0.0.0.0:3000")).rule, "api-deny");
    const image::ProcessPolicy other(view, "/usr/bin/node", "node", "other");
    EXPECT_STREQ(other.decide(request("0.0.0.0:3000")).rule, "default");
    EXPECT_TRUE(other.valid());
}

TEST(PolicyImage, RefusesWhatIsNotAGoodImage) {
    const Bytes good = compiled(policy("version = 1\n[[rule]]\nname = \"a\"\naction = \"deny\"\nport = [22]\n"));
    image::PolicyImage view;
    ASSERT_EQ(good.check(view), image::Problem::none);

    Bytes bad = good;
    bad.data.resize(bad.data.size() - 8);
    EXPECT_EQ(bad.check(view), image::Problem::truncated);

    bad = good;
    bad.data[0] = 'X';
    EXPECT_EQ(bad.check(view), image::Problem::not_an_image);

    bad = good;
    bad.data.resize(10);
    EXPECT_EQ(bad.check(view), image::Problem::truncated);
    bad.data.resize(5);
    EXPECT_EQ(bad.check(view), image::Problem::not_an_image);

    bad = good;
    bg_image_header header;
    std::memcpy(&header, bad.data.data(), sizeof header);
    header.format = BG_IMAGE_FORMAT + 1;
    std::memcpy(bad.data.data(), &header, sizeof header);
    EXPECT_EQ(bad.check(view), image::Problem::other_format);

    header.format = BG_IMAGE_FORMAT;
    header.arch ^= 1u << 24;  // the other byte order
    std::memcpy(bad.data.data(), &header, sizeof header);
    EXPECT_EQ(bad.check(view), image::Problem::other_machine);

    bad = good;
    bad.data[bad.data.size() - 20] ^= 0x10;
    EXPECT_EQ(bad.check(view), image::Problem::corrupt);
    EXPECT_NE(bad.check(view, false), image::Problem::corrupt);  // not looked at without verify
}

// A CIDR whose prefix length does not fit its family (a damaged image read without its
// checksum, as the library reads a large one): its rule is taken as matching and denies.
TEST(PolicyImage, ACidrWhosePrefixDoesNotFitItsFamilyDenies) {
    Bytes bytes = compiled(policy("version = 1\n[[rule]]\nname = \"web\"\naction = \"allow\"\n"
                                  "address = [\"10.0.0.0/8\"]\nport = [80]\n"));
    bg_image_header header;
    std::memcpy(&header, bytes.data.data(), sizeof header);
    bytes.data[header.sections[BG_SECTION_CIDRS].offset + offsetof(bg_image_cidr, prefix)] = 200;
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view, false), image::Problem::none);
    const image::ProcessPolicy process(view, "/usr/bin/node", "node", "");
    const Decision decision = process.decide(request("10.1.2.3:80"));
    EXPECT_EQ(decision.action, Action::deny);
    EXPECT_STREQ(decision.rule, "web");
}

// A tree node whose port map runs past the image's keys (found by fuzz_image): refused
// as a part of the index, so the group is scanned, never read out of bounds (ASan).
TEST(PolicyImage, ATreeNodeThatDoesNotFitIsNotRead) {
    Policy p = policy(many_rules_policy_text(12));
    Bytes bytes{image::compile(p, identity_of(), detail::IndexLimits{0, 0, 0})};
    bg_image_header header;
    std::memcpy(&header, bytes.data.data(), sizeof header);
    const bg_image_section_ref& nodes = header.sections[BG_SECTION_NODES];
    bool damaged = false;
    for (std::uint64_t at = nodes.offset; at < nodes.offset + nodes.size; at += sizeof(bg_image_interval_map)) {
        bg_image_interval_map node;
        std::memcpy(&node, bytes.data.data() + at, sizeof node);
        if (node.count == 0) continue;
        node.count = 0x7fffffffu;
        std::memcpy(bytes.data.data() + at, &node, sizeof node);
        damaged = true;
    }
    ASSERT_TRUE(damaged);
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view, false), image::Problem::none);
    ASSERT_NE(view.group(0), nullptr);
    ASSERT_EQ(view.group(0)->indexed, 2u);
    const image::ProcessPolicy process(view, "/usr/bin/node", "node", "");
    p.index.reset();
    for (const char* address : {"10.0.3.7:8080", "10.0.11.7:8080", "10.0.3.7:9090", "192.0.2.1:8080"})
        EXPECT_TRUE(same_decision(p, process, request(address))) << address;
}

// Rule i allows TCP 8080 on 10.0.i.0/24 (i < 20) and on 2001:db8::i:0/112: 22 IPv4
// starts, so the IPv4 map has a first-level table of 32 buckets of one /24 each
// (image.h); the IPv6 starts share their high half, so a table would have all of them in
// one bucket: that map has none. Addresses at every edge decide as decide() does.
TEST(PolicyImage, AMapsFirstLevelTableDecidesAsItsWholeSearch) {
    std::string text = "version = 1\n";
    for (int i = 0; i < 20; ++i)
        text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\naction = \"allow\"\naddress = [\"10.0." +
                std::to_string(i) + ".0/24\", \"2001:db8::" + std::to_string(i) + ":0/112\"]\nport = [8080]\n";
    Policy p = policy(text);
    const Bytes bytes = compiled(p);
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view), image::Problem::none);
    ASSERT_NE(view.group(0), nullptr);
    const bg_image_group& group = *view.group(0);
    ASSERT_EQ(group.indexed, 1u);
    EXPECT_EQ(group.ipv4.count, 22u);
    EXPECT_EQ(group.ipv4_buckets.count, 32u);
    EXPECT_EQ(group.ipv4_buckets.shift, 8u);
    EXPECT_EQ(group.ipv4_buckets.base, 0x0a000000u);
    EXPECT_EQ(group.v4_mapped_buckets.count, 32u);
    EXPECT_EQ(group.ipv6_buckets.count, 0u);
    const image::ProcessPolicy process(view, "/usr/bin/node", "node", "");
    p.index.reset();
    for (const char* address :
         {"0.0.0.0:8080", "9.255.255.255:8080", "10.0.0.0:8080", "10.0.0.255:8080", "10.0.7.1:8080",
          "10.0.19.255:8080", "10.0.20.0:8080", "10.0.31.255:8080", "10.0.32.0:8080", "255.255.255.255:8080",
          "[::]:8080", "[2001:db8::]:8080", "[2001:db8::0:1]:8080", "[2001:db8::13:ffff]:8080",
          "[2001:db8::14:0]:8080", "[2001:db8::19:ffff]:8080", "[2001:db8::1a:0]:8080", "[2001:db8:0:1::]:8080", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:8080",
          "[::ffff:10.0.3.3]:8080", "10.0.3.3:8081"})
        EXPECT_TRUE(same_decision(p, process, request(address))) << address;
    EXPECT_STREQ(process.decide(request("10.0.19.255:8080")).rule, "r19");
    EXPECT_STREQ(process.decide(request("[2001:db8::19:ffff]:8080")).rule, "r19");  // i is written in hex there
}

// A first-level table that a damaged image makes point outside its map is not
// followed: the group is scanned, and decides as decide() does; a shift past 63 makes
// the group unreadable, and the process fails closed.
TEST(PolicyImage, ADamagedFirstLevelTableIsNotFollowed) {
    Policy p = generated(40);
    Bytes bytes = compiled(p);
    bg_image_header header;
    std::memcpy(&header, bytes.data.data(), sizeof header);
    const bg_image_section_ref& buckets = header.sections[BG_SECTION_BUCKETS];
    ASSERT_GT(buckets.size, 0u);
    for (std::uint64_t at = buckets.offset; at < buckets.offset + buckets.size; at += sizeof(std::uint32_t)) {
        const std::uint32_t outside = 0x7fffffffu;
        std::memcpy(bytes.data.data() + at, &outside, sizeof outside);
    }
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view, false), image::Problem::none);
    const image::ProcessPolicy process(view, "/usr/bin/node", "node", "");
    ASSERT_TRUE(process.valid());
    p.index.reset();
    for (const char* address : {"10.0.3.7:8080", "10.0.39.7:8999", "10.0.3.7:9090", "192.0.2.1:8080", "0.0.0.0:80"})
        EXPECT_TRUE(same_decision(p, process, request(address))) << address;

    const std::uint64_t group_at = header.sections[BG_SECTION_GROUPS].offset;
    bg_image_group group;
    std::memcpy(&group, bytes.data.data() + group_at, sizeof group);
    ASSERT_NE(group.ipv4_buckets.count, 0u);
    group.ipv4_buckets.shift = 64;
    std::memcpy(bytes.data.data() + group_at, &group, sizeof group);
    ASSERT_EQ(bytes.check(view, false), image::Problem::none);
    const image::ProcessPolicy unreadable(view, "/usr/bin/node", "node", "");
    EXPECT_FALSE(unreadable.valid());
    EXPECT_EQ(unreadable.decide(request("10.0.3.7:8080")).action, Action::deny);
    EXPECT_EQ(unreadable.decide(request("127.0.0.1:8080")).action, Action::allow);
}

// A tree node whose link up does not lead up (a damaged image): the group is scanned.
TEST(PolicyImage, ATreeLinkThatDoesNotLeadUpIsNotFollowed) {
    // The last rule covers many leaves: it is stored at inner nodes, which the leaves link to.
    Policy p = policy(many_rules_policy_text(12) +
                      "[[rule]]\nname = \"wide\"\naction = \"deny\"\naddress = [\"10.0.0.0/16\"]\nport = [9090]\n");
    Bytes bytes{image::compile(p, identity_of(), detail::IndexLimits{0, 0, 0})};
    bg_image_header header;
    std::memcpy(&header, bytes.data.data(), sizeof header);
    const bg_image_section_ref& nodes = header.sections[BG_SECTION_NODES];
    std::uint32_t index = 0, linked = 0;
    for (std::uint64_t at = nodes.offset; at < nodes.offset + nodes.size; at += sizeof(bg_image_interval_map), ++index) {
        bg_image_interval_map node;
        std::memcpy(&node, bytes.data.data() + at, sizeof node);
        if (node.up != 0) ++linked;
        node.up = index;  // itself: a cycle, were it followed
        std::memcpy(bytes.data.data() + at, &node, sizeof node);
    }
    ASSERT_GT(linked, 0u);
    image::PolicyImage view;
    ASSERT_EQ(bytes.check(view, false), image::Problem::none);
    ASSERT_EQ(view.group(0)->indexed, 2u);
    const image::ProcessPolicy process(view, "/usr/bin/node", "node", "");
    p.index.reset();
    for (const char* address : {"10.0.3.7:8080", "10.0.11.7:8080", "10.0.3.7:9090", "10.0.200.1:9090", "192.0.2.1:8080"})
        EXPECT_TRUE(same_decision(p, process, request(address))) << address;
    EXPECT_STREQ(process.decide(request("10.0.3.7:9090")).rule, "wide");
}

// Every single-byte change of a small image, read without the checksum: refused, or
// decided from without reading outside the image (the asan preset checks that).
TEST(PolicyImage, EveryByteChangedIsRefusedOrDecidedFrom) {
    std::string text = "version = 1\n";
    for (int i = 0; i < 10; ++i)
        text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\naction = \"allow\"\nservice = \"" +
                (i % 2 ? "web" : "api") + "\"\naddress = [\"10.0." + std::to_string(i) + ".0/24\"]\nport = [" +
                std::to_string(8000 + i) + "]\n";
    const Bytes good = compiled(policy(text));
    const Request probes[] = {request("10.0.3.1:8003"), request("0.0.0.0:8000"), request("[::]:8001"),
                              request("[::ffff:10.0.4.1]:8004")};
    std::size_t refused = 0, read = 0;
    for (std::size_t at = 0; at < good.data.size(); ++at) {
        for (const unsigned char flip : {0x01, 0x80, 0xff}) {
            Bytes bad = good;
            bad.data[at] ^= flip;
            image::PolicyImage view;
            if (bad.check(view, false) != image::Problem::none) {
                ++refused;
                continue;
            }
            ++read;
            for (const char* service : {"", "web", "api"}) {
                const image::ProcessPolicy process(view, "/bin/x", "x", service);
                for (const Request& r : probes) {
                    const Decision d = process.decide(r);
                    EXPECT_LE(static_cast<int>(d.action), static_cast<int>(Action::deny));
                    EXPECT_NE(d.rule, nullptr);
                }
            }
        }
    }
    EXPECT_GT(refused, 0u);
    EXPECT_GT(read, 0u);
}

TEST(PolicyImage, WhereImagesLive) {
    EXPECT_EQ(image::beside_path("/etc/bindguard/policy.toml"), "/etc/bindguard/policy.toml.compiled");
    const std::string cached = image::system_cache_path("/etc/bindguard/policy.toml");
    EXPECT_EQ(cached.rfind("/var/cache/bindguard/", 0), 0u);
    EXPECT_NE(cached, image::system_cache_path("/etc/bindguard/other.toml"));
}

}  // namespace
