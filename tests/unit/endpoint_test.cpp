// Endpoints, loopback/wildcard classification and CIDR matching.
#include "test_util.hpp"

using namespace bindguard;
using namespace bgunit;

namespace {

// The first CIDR of a one-rule policy with address = text.
Cidr cidr(const std::string& address) {
    const auto p = policy("version = 1\n[[rule]]\nname = \"r\"\naction = \"allow\"\naddress = \"" + address + "\"\n");
    return p.rules.empty() || p.rules[0].addresses.empty() ? Cidr{} : p.rules[0].addresses[0];
}

TEST(Endpoint, ParsesAndFormatsBothFamilies) {
    for (const char* address : {"0.0.0.0:3000", "127.0.0.1:0", "255.255.255.255:65535", "[::]:3000", "[::1]:80",
                                "[::ffff:127.0.0.1]:80", "[2001:db8::1]:443"}) {
        const auto parsed = parse_endpoint(address);
        ASSERT_TRUE(parsed) << address;
        EXPECT_EQ(text(*parsed), address);
    }
    const auto v4 = ep("10.1.2.3:8080");
    EXPECT_EQ(v4.family, AF_INET);
    EXPECT_EQ(v4.port, 8080);
    EXPECT_EQ(v4.bytes[0], 10);
    EXPECT_EQ(v4.bytes[3], 3);
    EXPECT_EQ(ep("[::1]:1").family, AF_INET6);
}

TEST(Endpoint, RejectsMalformedText) {
    for (const char* bad : {"", "0.0.0.0", "0.0.0.0:", ":80", "0.0.0.0:65536", "0.0.0.0:-1", "0.0.0.0:8o",
                            "::1:80", "[::1]80", "[::1]:", "[::1:80", "[0.0.0.0]:80", "256.0.0.1:80",
                            "localhost:80", "0.0.0.0:123456", "[::1]:80x"})
        EXPECT_FALSE(parse_endpoint(bad)) << bad;
}

TEST(Endpoint, FormatTruncates) {
    char buf[6];
    EXPECT_EQ(format_endpoint(ep("127.0.0.1:3000"), buf, sizeof buf), 5u);
    EXPECT_STREQ(buf, "127.0");
}

// Row 6 and 13 of BINDING-CASES: what counts as loopback, and only AF_INET/AF_INET6 do.
TEST(Classify, Loopback) {
    for (const char* yes : {"127.0.0.1:1", "127.0.0.0:1", "127.255.255.254:1", "[::1]:1", "[::ffff:127.0.0.1]:1",
                            "[::ffff:127.200.0.1]:1"})
        EXPECT_TRUE(is_loopback(ep(yes))) << yes;
    for (const char* no : {"0.0.0.0:1", "128.0.0.1:1", "126.255.255.255:1", "10.0.0.1:1", "[::]:1", "[::2]:1",
                           "[::ffff:128.0.0.1]:1", "[::127.0.0.1]:1", "[fe80::1]:1", "[::ffff:0.0.0.0]:1"})
        EXPECT_FALSE(is_loopback(ep(no))) << no;
    Endpoint unix_like;
    unix_like.family = AF_UNIX;
    unix_like.bytes[0] = 127;
    EXPECT_FALSE(is_loopback(unix_like));
    EXPECT_FALSE(is_wildcard(Endpoint{}));
}

TEST(Classify, Wildcard) {
    for (const char* yes : {"0.0.0.0:0", "[::]:80", "[::ffff:0.0.0.0]:80"}) EXPECT_TRUE(is_wildcard(ep(yes))) << yes;
    for (const char* no : {"0.0.0.1:0", "[::1]:0", "127.0.0.1:0", "[::ffff:0.0.0.1]:0", "[1::]:0"})
        EXPECT_FALSE(is_wildcard(ep(no))) << no;
}

TEST(CidrMatch, ZeroPrefixMatchesItsFamily) {
    const auto all4 = cidr("0.0.0.0/0"), all6 = cidr("::/0");
    EXPECT_TRUE(all4.contains(ep("1.2.3.4:1")));
    EXPECT_TRUE(all4.contains(ep("255.255.255.255:1")));
    EXPECT_TRUE(all4.contains(ep("[::ffff:1.2.3.4]:1")));  // v4-mapped
    EXPECT_FALSE(all4.contains(ep("[2001:db8::1]:1")));
    EXPECT_FALSE(all4.contains(ep("[::]:1")));
    EXPECT_TRUE(all6.contains(ep("[2001:db8::1]:1")));
    EXPECT_TRUE(all6.contains(ep("[::ffff:1.2.3.4]:1")));  // an IPv6 endpoint, whatever it maps
    EXPECT_FALSE(all6.contains(ep("1.2.3.4:1")));
}

TEST(CidrMatch, FullPrefixIsOneAddress) {
    const auto one4 = cidr("10.0.0.7/32"), one6 = cidr("2001:db8::7/128");
    EXPECT_TRUE(one4.contains(ep("10.0.0.7:1")));
    EXPECT_TRUE(one4.contains(ep("[::ffff:10.0.0.7]:1")));
    EXPECT_FALSE(one4.contains(ep("10.0.0.6:1")));
    EXPECT_FALSE(one4.contains(ep("10.0.0.8:1")));
    EXPECT_TRUE(one6.contains(ep("[2001:db8::7]:1")));
    EXPECT_FALSE(one6.contains(ep("[2001:db8::6]:1")));
    // A plain address means /32 or /128.
    EXPECT_EQ(cidr("10.0.0.7").prefix, 32);
    EXPECT_EQ(cidr("2001:db8::7").prefix, 128);
}

TEST(CidrMatch, PrefixesOffByteBoundaries) {
    const auto c = cidr("10.0.0.0/9");  // 10.0.0.0 - 10.127.255.255
    EXPECT_TRUE(c.contains(ep("10.127.255.255:1")));
    EXPECT_FALSE(c.contains(ep("10.128.0.0:1")));
    const auto mapped = cidr("::ffff:192.168.0.0/112");  // ::ffff:192.168.0.0/16 in IPv6 form
    EXPECT_TRUE(mapped.contains(ep("[::ffff:192.168.9.9]:1")));
    EXPECT_FALSE(mapped.contains(ep("[::ffff:192.169.0.0]:1")));
    EXPECT_FALSE(mapped.contains(ep("192.168.9.9:1")));  // IPv6 CIDRs do not match AF_INET
    const auto v6 = cidr("fe80::/10");
    EXPECT_TRUE(v6.contains(ep("[febf::1]:1")));
    EXPECT_FALSE(v6.contains(ep("[fec0::1]:1")));
}

TEST(CidrMatch, HostBitsAreMasked) {
    const auto c = cidr("10.1.2.3/8");
    EXPECT_EQ(c.bytes[0], 10);
    EXPECT_EQ(c.bytes[1], 0);
    EXPECT_EQ(c.bytes[3], 0);
    EXPECT_TRUE(c.contains(ep("10.200.0.1:1")));
}

TEST(CidrCovers, SameFamily) {
    EXPECT_TRUE(cidr("0.0.0.0/0").covers(cidr("10.0.0.0/8")));
    EXPECT_TRUE(cidr("10.0.0.0/8").covers(cidr("10.0.0.0/8")));
    EXPECT_TRUE(cidr("10.0.0.0/8").covers(cidr("10.1.0.0/16")));
    EXPECT_FALSE(cidr("10.1.0.0/16").covers(cidr("10.0.0.0/8")));
    EXPECT_FALSE(cidr("10.0.0.0/8").covers(cidr("11.0.0.0/8")));
    EXPECT_TRUE(cidr("::/0").covers(cidr("2001:db8::/32")));
    EXPECT_FALSE(cidr("2001:db8::/32").covers(cidr("2001:db9::/32")));
}

TEST(CidrCovers, AcrossFamilies) {
    // An IPv4 CIDR covers the v4-mapped IPv6 CIDRs inside it...
    EXPECT_TRUE(cidr("10.0.0.0/8").covers(cidr("::ffff:10.1.0.0/112")));
    EXPECT_TRUE(cidr("0.0.0.0/0").covers(cidr("::ffff:0.0.0.0/96")));
    EXPECT_FALSE(cidr("10.0.0.0/8").covers(cidr("::ffff:11.0.0.0/104")));
    EXPECT_FALSE(cidr("0.0.0.0/0").covers(cidr("::/0")));
    // ...but an IPv6 CIDR never covers an IPv4 one, which also matches AF_INET endpoints.
    EXPECT_FALSE(cidr("::/0").covers(cidr("10.0.0.0/8")));
}

TEST(Names, ToString) {
    EXPECT_STREQ(to_string(Mode::enforce), "enforce");
    EXPECT_STREQ(to_string(Mode::audit), "audit");
    EXPECT_STREQ(to_string(Action::allow), "allow");
    EXPECT_STREQ(to_string(Action::rewrite), "rewrite");
    EXPECT_STREQ(to_string(Action::deny), "deny");
    EXPECT_STREQ(to_string(Protocol::tcp), "tcp");
    EXPECT_STREQ(to_string(Protocol::udp), "udp");
    EXPECT_STREQ(to_string(Protocol::any), "any");
    EXPECT_STREQ(to_string(Protocol::other), "other");
    EXPECT_STREQ(to_string(LogLevel::error), "error");
    EXPECT_STREQ(to_string(LogLevel::warn), "warn");
    EXPECT_STREQ(to_string(LogLevel::info), "info");
    EXPECT_STREQ(to_string(LogLevel::debug), "debug");
}

}  // namespace
