// decide() against every address row of BINDING-CASES.md, rules, and for_process().
#include "test_util.hpp"

using namespace bindguard;
using namespace bgunit;

namespace {

const Policy kDefault = builtin_policy();

// Row 1: TCP 0.0.0.0:P is rewritten to 127.0.0.1:P.
TEST(DecideCases, Row1WildcardIpv4IsRewritten) {
    EXPECT_EQ(explain(kDefault, request("0.0.0.0:3000")), "rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule default)");
}

// Row 2: a real non-loopback address is rewritten too.
TEST(DecideCases, Row2RealAddressIsRewritten) {
    EXPECT_EQ(explain(kDefault, request("192.168.1.20:8080")),
              "rewrite tcp 192.168.1.20:8080 -> 127.0.0.1:8080 (rule default)");
    EXPECT_EQ(explain(kDefault, request("[2001:db8::5]:8080")),
              "rewrite tcp [2001:db8::5]:8080 -> [::1]:8080 (rule default)");
}

// Row 3: [::]:P on a dual-stack socket goes to ::ffff:127.0.0.1 so IPv4 clients reach it.
TEST(DecideCases, Row3DualStackWildcardGoesToMappedIpv4) {
    EXPECT_EQ(explain(kDefault, request("[::]:3000")), "rewrite tcp [::]:3000 -> [::ffff:127.0.0.1]:3000 (rule default)");
}

// Row 3 with dual_stack = "ipv6": [::]:P goes to [::1]:P.
TEST(DecideCases, Row3DualStackIpv6Setting) {
    const auto p = policy("version = 1\n[loopback]\ndual_stack = \"ipv6\"\n");
    EXPECT_EQ(explain(p, request("[::]:3000")), "rewrite tcp [::]:3000 -> [::1]:3000 (rule default)");
}

// Row 4: [::]:P on a v6-only socket goes to [::1]:P (a mapped address is invalid there).
TEST(DecideCases, Row4V6OnlyWildcardGoesToIpv6Loopback) {
    EXPECT_EQ(explain(kDefault, request("[::]:3000", Protocol::tcp, true)),
              "rewrite tcp [::]:3000 -> [::1]:3000 (rule default)");
}

// Row 5: v4-mapped wildcard and v4-mapped non-loopback addresses go to ::ffff:127.0.0.1.
TEST(DecideCases, Row5V4MappedIsRewrittenToMappedLoopback) {
    EXPECT_EQ(explain(kDefault, request("[::ffff:0.0.0.0]:80")),
              "rewrite tcp [::ffff:0.0.0.0]:80 -> [::ffff:127.0.0.1]:80 (rule default)");
    EXPECT_EQ(explain(kDefault, request("[::ffff:10.1.2.3]:80")),
              "rewrite tcp [::ffff:10.1.2.3]:80 -> [::ffff:127.0.0.1]:80 (rule default)");
}

// Row 6: loopback binds are left alone.
TEST(DecideCases, Row6LoopbackIsUnchanged) {
    for (const char* address : {"127.0.0.1:3000", "127.1.2.3:3000", "127.255.255.255:1", "[::1]:3000",
                                "[::ffff:127.0.0.1]:3000", "[::ffff:127.9.9.9]:3000"}) {
        const auto r = request(address);
        const auto d = decide(kDefault, r);
        EXPECT_EQ(d.action, Action::allow) << address;
        EXPECT_EQ(d.address, r.address) << address;
        EXPECT_STREQ(d.rule, "loopback") << address;
    }
}

// Row 7: UDP wildcard port 0 (client sockets) is left alone; row 8 is the UDP server case.
TEST(DecideCases, Row7UdpEphemeralIsAllowed) {
    EXPECT_EQ(explain(kDefault, request("0.0.0.0:0", Protocol::udp)), "allow udp 0.0.0.0:0 (rule udp-ephemeral)");
    EXPECT_EQ(explain(kDefault, request("[::]:0", Protocol::udp)), "allow udp [::]:0 (rule udp-ephemeral)");
    EXPECT_EQ(explain(kDefault, request("[::ffff:0.0.0.0]:0", Protocol::udp)),
              "allow udp [::ffff:0.0.0.0]:0 (rule udp-ephemeral)");
}

// Row 7 with udp_ephemeral = "apply": the UDP wildcard port 0 gets default.action.
TEST(DecideCases, Row7UdpEphemeralApply) {
    const auto p = policy("version = 1\n[default]\nudp_ephemeral = \"apply\"\n");
    EXPECT_EQ(explain(p, request("0.0.0.0:0", Protocol::udp)), "rewrite udp 0.0.0.0:0 -> 127.0.0.1:0 (rule default)");
}

// Row 7 only covers the wildcard: UDP on a real address with port 0 is rewritten.
TEST(DecideCases, Row7UdpEphemeralNeedsWildcard) {
    EXPECT_EQ(explain(kDefault, request("10.0.0.1:0", Protocol::udp)),
              "rewrite udp 10.0.0.1:0 -> 127.0.0.1:0 (rule default)");
}

TEST(DecideCases, Row8UdpServerIsRewritten) {
    EXPECT_EQ(explain(kDefault, request("0.0.0.0:5353", Protocol::udp)),
              "rewrite udp 0.0.0.0:5353 -> 127.0.0.1:5353 (rule default)");
    EXPECT_EQ(explain(kDefault, request("[::]:5353", Protocol::udp)),
              "rewrite udp [::]:5353 -> [::ffff:127.0.0.1]:5353 (rule default)");
}

// Row 9: TCP 0.0.0.0:0 (an ephemeral server) is rewritten: udp_ephemeral is UDP only.
TEST(DecideCases, Row9TcpEphemeralIsRewritten) {
    EXPECT_EQ(explain(kDefault, request("0.0.0.0:0")), "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0 (rule default)");
    EXPECT_EQ(explain(kDefault, request("[::]:0")), "rewrite tcp [::]:0 -> [::ffff:127.0.0.1]:0 (rule default)");
}

// Row 12: with default.action = "deny", both Node attempts (:: then 0.0.0.0) are denied.
TEST(DecideCases, Row12DenyDeniesBothNodeAttempts) {
    const auto p = policy("version = 1\n[default]\naction = \"deny\"\n");
    EXPECT_EQ(explain(p, request("[::]:3000")), "deny tcp [::]:3000 -> EACCES (rule default)");
    EXPECT_EQ(explain(p, request("0.0.0.0:3000")), "deny tcp 0.0.0.0:3000 -> EACCES (rule default)");
    const auto d = decide(p, request("0.0.0.0:3000"));
    EXPECT_EQ(d.address, ep("0.0.0.0:3000"));
    // Loopback binds are still allowed.
    EXPECT_EQ(explain(p, request("127.0.0.1:3000")), "allow tcp 127.0.0.1:3000 (rule loopback)");
}

// default.action = "allow" lets everything through.
TEST(DecideCases, DefaultAllow) {
    const auto p = policy("version = 1\n[default]\naction = \"allow\"\n");
    EXPECT_EQ(explain(p, request("0.0.0.0:3000")), "allow tcp 0.0.0.0:3000 (rule default)");
}

// The fail-closed policy denies non-loopback and allows loopback binds.
TEST(DecideCases, FailClosedPolicy) {
    const auto p = fail_closed_policy("/etc/missing.toml");
    EXPECT_EQ(p.source, "/etc/missing.toml");
    EXPECT_EQ(p.log.to, LogSink::stderr_sink);
    EXPECT_TRUE(p.rules.empty());
    EXPECT_EQ(explain(p, request("0.0.0.0:80")), "deny tcp 0.0.0.0:80 -> EACCES (rule default)");
    EXPECT_EQ(explain(p, request("[::]:80")), "deny tcp [::]:80 -> EACCES (rule default)");
    EXPECT_EQ(explain(p, request("[::1]:80")), "allow tcp [::1]:80 (rule loopback)");
}

// A rewrite keeps the port and clears the IPv6 scope id; another loopback_ipv4 is honoured.
TEST(Rewrite, ScopeIdClearedAndCustomLoopback) {
    auto r = request("[fe80::1]:22");
    r.address.scope_id = 3;
    const auto d = decide(kDefault, r);
    EXPECT_EQ(d.address.scope_id, 0u);
    EXPECT_EQ(text(d.address), "[::1]:22");

    const auto p = policy("version = 1\n[loopback]\nipv4 = \"127.0.0.2\"\n");
    EXPECT_EQ(text(decide(p, request("0.0.0.0:1")).address), "127.0.0.2:1");
    EXPECT_EQ(text(decide(p, request("[::]:1")).address), "[::ffff:127.0.0.2]:1");
    EXPECT_EQ(text(decide(p, request("[::ffff:1.2.3.4]:1")).address), "[::ffff:127.0.0.2]:1");
    EXPECT_EQ(text(decide(p, request("[::]:1", Protocol::tcp, true)).address), "[::1]:1");
}

// loopback_for() directly: every family shape.
TEST(Rewrite, LoopbackFor) {
    const Policy p;
    EXPECT_EQ(text(loopback_for(p, ep("8.8.8.8:53"), false)), "127.0.0.1:53");
    EXPECT_EQ(text(loopback_for(p, ep("[::]:53"), false)), "[::ffff:127.0.0.1]:53");
    EXPECT_EQ(text(loopback_for(p, ep("[::]:53"), true)), "[::1]:53");
    EXPECT_EQ(text(loopback_for(p, ep("[::ffff:8.8.8.8]:53"), false)), "[::ffff:127.0.0.1]:53");
    EXPECT_EQ(text(loopback_for(p, ep("[2001:db8::1]:53"), false)), "[::1]:53");
}

// describe() in audit mode: would-rewrite / would-deny; allow stays allow.
TEST(Describe, AuditWording) {
    const auto deny = policy("version = 1\nmode = \"audit\"\n[default]\naction = \"deny\"\n");
    EXPECT_EQ(deny.mode, Mode::audit);
    EXPECT_EQ(explain(kDefault, request("0.0.0.0:3000"), true),
              "would-rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule default)");
    EXPECT_EQ(explain(deny, request("[::]:53", Protocol::udp), true), "would-deny udp [::]:53 -> EACCES (rule default)");
    EXPECT_EQ(explain(kDefault, request("127.0.0.1:3000"), true), "allow tcp 127.0.0.1:3000 (rule loopback)");
}

// describe() truncates to the buffer, NUL-terminated, and reports the written length.
TEST(Describe, Truncates) {
    const auto r = request("0.0.0.0:3000");
    const auto d = decide(kDefault, r);
    char buf[12];
    EXPECT_EQ(describe(r, d, false, buf, sizeof buf), 11u);
    EXPECT_STREQ(buf, "rewrite tcp");
    EXPECT_EQ(describe(r, d, false, buf, 0), 0u);
}

// A request of another protocol (e.g. SCTP) only matches protocol = "any" rules.
TEST(DecideRules, OtherProtocol) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "tcp-only"
action = "allow"
protocol = "tcp"
[[rule]]
name = "anything"
action = "deny"
)");
    EXPECT_EQ(explain(p, request("0.0.0.0:1", Protocol::other)), "deny other 0.0.0.0:1 -> EACCES (rule anything)");
    EXPECT_EQ(explain(p, request("0.0.0.0:1", Protocol::tcp)), "allow tcp 0.0.0.0:1 (rule tcp-only)");
}

// Rules are evaluated in order; the first match wins.
TEST(DecideRules, FirstMatchWins) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "web"
action = "allow"
port = [80, 443]
[[rule]]
name = "no-web-range"
action = "deny"
port = "1-1024"
[[rule]]
name = "rest"
action = "rewrite"
)");
    EXPECT_EQ(explain(p, request("0.0.0.0:443")), "allow tcp 0.0.0.0:443 (rule web)");
    EXPECT_EQ(explain(p, request("0.0.0.0:22")), "deny tcp 0.0.0.0:22 -> EACCES (rule no-web-range)");
    EXPECT_EQ(explain(p, request("0.0.0.0:3000")), "rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule rest)");
}

// Rules come before the loopback allowance: a deny rule can refuse a loopback bind.
TEST(DecideRules, RulesBeforeLoopback) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "no-db-port"
action = "deny"
port = 5432
)");
    EXPECT_EQ(explain(p, request("127.0.0.1:5432")), "deny tcp 127.0.0.1:5432 -> EACCES (rule no-db-port)");
    EXPECT_EQ(explain(p, request("127.0.0.1:5433")), "allow tcp 127.0.0.1:5433 (rule loopback)");
}

// Rules come before udp-ephemeral too.
TEST(DecideRules, RulesBeforeUdpEphemeral) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "no-udp"
action = "deny"
protocol = "udp"
)");
    EXPECT_EQ(explain(p, request("0.0.0.0:0", Protocol::udp)), "deny udp 0.0.0.0:0 -> EACCES (rule no-udp)");
    EXPECT_EQ(explain(p, request("0.0.0.0:0", Protocol::tcp)), "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0 (rule default)");
}

// Port ranges: both ends included, neighbours excluded; mixed integers, "N" and "A-B".
TEST(DecideRules, PortRanges) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "ports"
action = "allow"
port = [22, "80", "8000-8099", "65535"]
)");
    for (int port : {22, 80, 8000, 8050, 8099, 65535})
        EXPECT_STREQ(decide(p, request("0.0.0.0:" + std::to_string(port))).rule, "ports") << port;
    for (int port : {0, 21, 23, 79, 81, 7999, 8100, 65534})
        EXPECT_STREQ(decide(p, request("0.0.0.0:" + std::to_string(port))).rule, "default") << port;
}

// Address filters: CIDR, plain address, v4 CIDR on v4-mapped requests; protocol filter.
TEST(DecideRules, AddressAndProtocolFilters) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "lan-udp"
action = "allow"
address = "192.168.0.0/16"
protocol = "udp"
[[rule]]
name = "one-host"
action = "allow"
address = ["10.0.0.7", "2001:db8::7"]
)");
    EXPECT_STREQ(decide(p, request("192.168.4.4:53", Protocol::udp)).rule, "lan-udp");
    EXPECT_STREQ(decide(p, request("[::ffff:192.168.4.4]:53", Protocol::udp)).rule, "lan-udp");
    EXPECT_STREQ(decide(p, request("192.168.4.4:53", Protocol::tcp)).rule, "default");
    EXPECT_STREQ(decide(p, request("192.169.4.4:53", Protocol::udp)).rule, "default");
    EXPECT_STREQ(decide(p, request("10.0.0.7:1")).rule, "one-host");
    EXPECT_STREQ(decide(p, request("10.0.0.8:1")).rule, "default");
    EXPECT_STREQ(decide(p, request("[2001:db8::7]:1")).rule, "one-host");
    EXPECT_STREQ(decide(p, request("[2001:db8::8]:1")).rule, "default");
}

// The example of the issue: a public proxy allowed on both families.
TEST(DecideRules, AllowBothFamilies) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "public-proxy"
action = "allow"
address = ["0.0.0.0/0", "::/0"]
port = [80, 443]
protocol = "tcp"
)");
    EXPECT_EQ(explain(p, request("0.0.0.0:443")), "allow tcp 0.0.0.0:443 (rule public-proxy)");
    EXPECT_EQ(explain(p, request("[::]:443")), "allow tcp [::]:443 (rule public-proxy)");
    EXPECT_EQ(explain(p, request("[::]:444")), "rewrite tcp [::]:444 -> [::ffff:127.0.0.1]:444 (rule default)");
    EXPECT_EQ(explain(p, request("0.0.0.0:443", Protocol::udp)),
              "rewrite udp 0.0.0.0:443 -> 127.0.0.1:443 (rule default)");
}

// A rule may rewrite a bind that would otherwise be allowed (here a loopback alias).
TEST(DecideRules, RewriteRule) {
    const auto p = policy(R"(version = 1
[default]
action = "allow"
[[rule]]
name = "pin"
action = "rewrite"
address = "127.0.0.0/8"
)");
    EXPECT_EQ(explain(p, request("127.0.0.9:5")), "rewrite tcp 127.0.0.9:5 -> 127.0.0.1:5 (rule pin)");
}

// A rewrite rule that matches its own target changes nothing: it is an allow, so it is not
// logged, and listen() accepts a socket that the same rule already rewrote at bind().
TEST(DecideRules, RewriteToItselfIsAllow) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "api"
action = "rewrite"
port = 4000
)");
    EXPECT_EQ(explain(p, request("[::]:4000")), "rewrite tcp [::]:4000 -> [::ffff:127.0.0.1]:4000 (rule api)");
    EXPECT_EQ(explain(p, request("[::ffff:127.0.0.1]:4000")), "allow tcp [::ffff:127.0.0.1]:4000 (rule api)");
    EXPECT_EQ(explain(p, request("127.0.0.1:4000")), "allow tcp 127.0.0.1:4000 (rule api)");
    EXPECT_EQ(explain(p, request("[::1]:4000", Protocol::tcp, true)), "allow tcp [::1]:4000 (rule api)");
}

constexpr const char* kProcessRules = R"(version = 1
[[rule]]
name = "caddy"
action = "allow"
program = "/usr/bin/caddy"
[[rule]]
name = "next"
action = "allow"
command = "*next start*"
port = 3000
[[rule]]
name = "proxy-service"
action = "allow"
service = "proxy"
[[rule]]
name = "node-anywhere"
action = "deny"
program = "/usr/*/node"
port = "9000-9100"
)";

Request process_request(std::string_view address, std::string_view program, std::string_view command,
                        std::string_view service) {
    auto r = request(address);
    r.program = program;
    r.command = command;
    r.service = service;
    return r;
}

// program and command are fnmatch(3) globs; service is compared for equality.
TEST(DecideRules, ProcessFilters) {
    const auto p = policy(kProcessRules);
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:80", "/usr/bin/caddy", "caddy run", "")).rule, "caddy");
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:80", "/usr/bin/caddy2", "caddy run", "")).rule, "default");
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:3000", "/usr/bin/node", "node /app/node_modules/.bin/next start -p 3000", "")).rule, "next");
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:3001", "/usr/bin/node", "node next start", "")).rule, "default");
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:3000", "/usr/bin/node", "node next dev", "")).rule, "default");
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:1", "/bin/x", "x", "proxy")).rule, "proxy-service");
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:1", "/bin/x", "x", "proxy2")).rule, "default");
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:1", "/bin/x", "x", "")).rule, "default");
    // Without FNM_PATHNAME, '*' also matches '/'.
    EXPECT_STREQ(decide(p, process_request("0.0.0.0:9000", "/usr/local/bin/node", "node", "")).rule, "node-anywhere");
}

// A subject too long for decide()'s stack buffer never matches there, but does in for_process().
TEST(DecideRules, VeryLongCommand) {
    const auto p = policy(kProcessRules);
    const std::string command = "node next start " + std::string(5000, 'x');
    const auto r = process_request("0.0.0.0:3000", "/usr/bin/node", command, "");
    EXPECT_STREQ(decide(p, r).rule, "default");
    EXPECT_STREQ(decide(for_process(p, r.program, r.command, r.service), r).rule, "next");
}

// for_process() keeps only the rules of that process, with their process filters dropped,
// and decides like the full policy for every request of that process.
TEST(ForProcess, EquivalentToFullPolicy) {
    const auto p = policy(kProcessRules);
    struct Identity {
        const char *program, *command, *service;
    };
    const Identity identities[] = {{"/usr/bin/caddy", "caddy run", ""},
                                   {"/usr/bin/node", "node next start", ""},
                                   {"/usr/bin/node", "node server.js", "proxy"},
                                   {"/usr/local/bin/node", "node x", ""},
                                   {"/bin/true", "", ""}};
    const char* addresses[] = {"0.0.0.0:80", "0.0.0.0:3000", "[::]:9050", "127.0.0.1:9000", "10.0.0.1:1"};
    for (const auto& id : identities) {
        const auto narrowed = for_process(p, id.program, id.command, id.service);
        for (const auto& rule : narrowed.rules) {
            EXPECT_FALSE(rule.program || rule.command || rule.service) << rule.name;
        }
        for (const char* address : addresses) {
            for (auto protocol : {Protocol::tcp, Protocol::udp}) {
                auto r = process_request(address, id.program, id.command, id.service);
                r.protocol = protocol;
                const auto full = decide(p, r), narrow = decide(narrowed, r);
                EXPECT_EQ(full.action, narrow.action) << id.program << " " << address;
                EXPECT_EQ(full.address, narrow.address) << id.program << " " << address;
                EXPECT_STREQ(full.rule, narrow.rule) << id.program << " " << address;
            }
        }
    }
    EXPECT_EQ(for_process(p, "/usr/bin/caddy", "caddy run", "").rules.size(), 1u);
    EXPECT_EQ(for_process(p, "/usr/bin/node", "node next start", "proxy").rules.size(), 3u);
    EXPECT_EQ(for_process(p, "/bin/true", "", "").rules.size(), 0u);
}

// for_process() keeps the rest of the policy as it was.
TEST(ForProcess, KeepsSettings) {
    const auto p = policy("version = 1\nmode = \"audit\"\n[default]\naction = \"deny\"\n");
    const auto narrowed = for_process(p, "/bin/x", "x", "");
    EXPECT_EQ(narrowed.mode, Mode::audit);
    EXPECT_EQ(narrowed.default_action, Action::deny);
    EXPECT_EQ(narrowed.source, "test.toml");
}

}  // namespace

namespace {

// rewrites_every_public_ipv4_bind() against decide() itself: whenever it says so,
// every public IPv4 request with a port gets exactly that answer, for any process
// facts and protocol; and it says so for none of the policies where that is false.
TEST(DecideShortcut, RewritesEveryPublicIpv4BindAgreesWithDecide) {
    const Policy with_rules = policy(R"(version = 1
[[rule]]
name = "proxy"
action = "allow"
port = 443
)");
    const Policy denying = policy("version = 1\n[default]\naction = \"deny\"\n");
    const Policy other_loopback = policy("version = 1\n[loopback]\nipv4 = \"127.0.0.2\"\n");
    const Policy audit = policy("version = 1\nmode = \"audit\"\n");
    EXPECT_TRUE(rewrites_every_public_ipv4_bind(kDefault));
    EXPECT_TRUE(rewrites_every_public_ipv4_bind(other_loopback));
    EXPECT_TRUE(rewrites_every_public_ipv4_bind(audit));  // the mode is the caller's (as for decide())
    EXPECT_FALSE(rewrites_every_public_ipv4_bind(with_rules));
    EXPECT_FALSE(rewrites_every_public_ipv4_bind(denying));

    std::uint32_t seed = 12345;
    auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
    const Protocol protocols[] = {Protocol::tcp, Protocol::udp, Protocol::other};
    for (const Policy* p : {&kDefault, &other_loopback, &audit, &with_rules, &denying}) {
        const bool shortcut = rewrites_every_public_ipv4_bind(*p);
        int disagreements = 0;
        for (int i = 0; i < 20000; ++i) {
            Request r;
            r.address.family = AF_INET;
            const std::uint32_t address = next();
            for (int b = 0; b < 4; ++b) r.address.bytes[b] = static_cast<std::uint8_t>(address >> (24 - 8 * b));
            if (i % 7 == 0) r.address.bytes = {};  // 0.0.0.0 often
            if (r.address.bytes[0] == 127) continue;
            r.address.port = static_cast<std::uint16_t>(1 + next() % 65535);
            r.protocol = protocols[next() % 3];
            r.v6only = next() % 2 == 0;
            r.program = i % 2 ? "/usr/bin/caddy" : "/usr/bin/node";
            r.service = i % 3 ? "proxy" : "";
            const Decision d = decide(*p, r);
            Endpoint expected = p->loopback_ipv4;
            expected.port = r.address.port;
            const bool as_said = d.action == Action::rewrite && d.address == expected &&
                                 std::string_view(d.rule) == "default";
            if (shortcut && !as_said) ++disagreements;
            if (!shortcut && as_said && p == &with_rules && r.address.port == 443) ++disagreements;
        }
        EXPECT_EQ(disagreements, 0) << p->source;
    }
}

}  // namespace
