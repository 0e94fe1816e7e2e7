// Policy parsing: valid files, every validation error class with its position, warnings.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_util.hpp"

using namespace bindguard;
using namespace bgunit;

namespace {

std::string read_source_file(const std::string& relative) {
    std::ifstream in(std::string(BINDGUARD_SOURCE_DIR) + "/" + relative);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The built-in policy is exactly examples/policy/default.toml.
TEST(Builtin, EqualsDefaultExample) {
    const std::string file_text = read_source_file("examples/policy/default.toml");
    ASSERT_FALSE(file_text.empty());
    EXPECT_EQ(builtin_policy_text(), file_text);
    const auto parsed = parse_policy(file_text, "default.toml");
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed.diagnostics.empty());
    const Policy builtin = builtin_policy();
    EXPECT_EQ(builtin.source, "<built-in>");
    // builtin_policy() is built in code: every setting equals the parse of the file.
    const Policy& file = *parsed.policy;
    EXPECT_EQ(builtin.version, file.version);
    EXPECT_EQ(builtin.mode, file.mode);
    EXPECT_EQ(builtin.loopback_ipv4, file.loopback_ipv4);
    EXPECT_EQ(builtin.loopback_ipv6, file.loopback_ipv6);
    EXPECT_EQ(builtin.dual_stack, file.dual_stack);
    EXPECT_EQ(builtin.default_action, file.default_action);
    EXPECT_EQ(builtin.udp_ephemeral, file.udp_ephemeral);
    EXPECT_EQ(builtin.log.to, file.log.to);
    EXPECT_EQ(builtin.log.path, file.log.path);
    EXPECT_EQ(builtin.log.format, file.log.format);
    EXPECT_EQ(builtin.log.level, file.log.level);
    EXPECT_EQ(builtin.log.rate, file.log.rate);
    EXPECT_EQ(builtin.children_inherit, file.children_inherit);
    EXPECT_EQ(builtin.rules.size(), file.rules.size());
    // And the values docs/policy.md documents for it.
    EXPECT_EQ(builtin.mode, Mode::enforce);
    EXPECT_EQ(builtin.default_action, Action::rewrite);
    EXPECT_EQ(builtin.udp_ephemeral, UdpEphemeral::allow);
    EXPECT_EQ(builtin.dual_stack, DualStack::ipv4);
    EXPECT_EQ(text(builtin.loopback_ipv4), "127.0.0.1:0");
    EXPECT_EQ(text(builtin.loopback_ipv6), "[::1]:0");
    EXPECT_EQ(builtin.log.to, LogSink::stderr_sink);
    EXPECT_EQ(builtin.log.rate, 50u);
    EXPECT_TRUE(builtin.rules.empty());
}

}  // namespace

namespace {

// Every diagnostic of text as "p.toml:LINE:COL: error: MESSAGE".
std::vector<std::string> problems(std::string_view toml) {
    std::vector<std::string> out;
    for (const auto& d : parse_policy(toml, "p.toml").diagnostics) out.push_back(d.to_string());
    return out;
}

// Checks that text is invalid, with exactly the expected diagnostics.
void expect_invalid(std::string_view toml, const std::vector<std::string>& expected) {
    const auto result = parse_policy(toml, "p.toml");
    EXPECT_FALSE(result.ok()) << toml;
    EXPECT_FALSE(result.policy.has_value());
    EXPECT_EQ(problems(toml), expected) << toml;
}

TEST(ParseValid, FullFormat) {
    const auto result = parse_policy(R"(version = 1
mode = "audit"

[loopback]
ipv4 = "127.0.0.2"
ipv6 = "::1"
dual_stack = "ipv6"

[default]
action = "deny"
udp_ephemeral = "apply"

[log]
to = "file"
path = "/var/log/bindguard.log"
format = "json"
level = "debug"
rate = 0

[children]
inherit = false

[[rule]]
name = "public-proxy"
action = "allow"
program = "/usr/bin/caddy"
command = "*caddy run*"
service = "proxy"
address = ["0.0.0.0/0", "::/0"]
port = [80, 443, "8000-8099"]
protocol = "tcp"

[[rule]]
name = "dns"
action = "rewrite"
address = "10.0.0.0/8"
port = "53"
protocol = "udp"
)",
                                     "full.toml");
    ASSERT_TRUE(result.ok());
    EXPECT_TRUE(result.diagnostics.empty());
    const Policy& p = *result.policy;
    EXPECT_EQ(p.source, "full.toml");
    EXPECT_EQ(p.version, 1);
    EXPECT_EQ(p.mode, Mode::audit);
    EXPECT_EQ(text(p.loopback_ipv4), "127.0.0.2:0");
    EXPECT_EQ(text(p.loopback_ipv6), "[::1]:0");
    EXPECT_EQ(p.dual_stack, DualStack::ipv6);
    EXPECT_EQ(p.default_action, Action::deny);
    EXPECT_EQ(p.udp_ephemeral, UdpEphemeral::apply);
    EXPECT_EQ(p.log.to, LogSink::file);
    EXPECT_EQ(p.log.path, "/var/log/bindguard.log");
    EXPECT_EQ(p.log.format, LogFormat::json);
    EXPECT_EQ(p.log.level, LogLevel::debug);
    EXPECT_EQ(p.log.rate, 0u);
    EXPECT_FALSE(p.children_inherit);
    ASSERT_EQ(p.rules.size(), 2u);
    const Rule& proxy = p.rules[0];
    EXPECT_EQ(proxy.name, "public-proxy");
    EXPECT_EQ(proxy.action, Action::allow);
    EXPECT_EQ(proxy.program, "/usr/bin/caddy");
    EXPECT_EQ(proxy.command, "*caddy run*");
    EXPECT_EQ(proxy.service, "proxy");
    ASSERT_EQ(proxy.addresses.size(), 2u);
    EXPECT_EQ(proxy.addresses[0].family, AF_INET);
    EXPECT_EQ(proxy.addresses[0].prefix, 0);
    EXPECT_EQ(proxy.addresses[1].family, AF_INET6);
    ASSERT_EQ(proxy.ports.size(), 3u);
    EXPECT_EQ(proxy.ports[0].first, 80);
    EXPECT_EQ(proxy.ports[0].last, 80);
    EXPECT_EQ(proxy.ports[2].first, 8000);
    EXPECT_EQ(proxy.ports[2].last, 8099);
    EXPECT_EQ(proxy.protocol, Protocol::tcp);
    EXPECT_EQ(proxy.position.line, 23u);
    EXPECT_EQ(proxy.position.column, 1u);
    const Rule& dns = p.rules[1];
    EXPECT_EQ(dns.action, Action::rewrite);
    EXPECT_FALSE(dns.program || dns.command || dns.service);
    ASSERT_EQ(dns.ports.size(), 1u);
    EXPECT_EQ(dns.ports[0].first, 53);
    EXPECT_EQ(dns.protocol, Protocol::udp);
    EXPECT_EQ(dns.position.line, 33u);
}

// Only version is required; everything else has the built-in value.
TEST(ParseValid, MinimalIsTheBuiltinBehaviour) {
    const Policy p = policy("version = 1\n");
    const Policy builtin = builtin_policy();
    EXPECT_EQ(p.mode, builtin.mode);
    EXPECT_EQ(p.loopback_ipv4, builtin.loopback_ipv4);
    EXPECT_EQ(p.loopback_ipv6, builtin.loopback_ipv6);
    EXPECT_EQ(p.dual_stack, builtin.dual_stack);
    EXPECT_EQ(p.default_action, builtin.default_action);
    EXPECT_EQ(p.udp_ephemeral, builtin.udp_ephemeral);
    EXPECT_EQ(p.log.to, builtin.log.to);
    EXPECT_EQ(p.log.format, builtin.log.format);
    EXPECT_EQ(p.log.level, builtin.log.level);
    EXPECT_EQ(p.log.rate, builtin.log.rate);
    EXPECT_TRUE(p.children_inherit);
    EXPECT_TRUE(p.rules.empty());
}

TEST(ParseValid, EveryEnumSpelling) {
    for (const char* mode : {"enforce", "audit"})
        EXPECT_STREQ(to_string(policy(std::string("version = 1\nmode = \"") + mode + "\"\n").mode), mode);
    for (const char* action : {"allow", "rewrite", "deny"})
        EXPECT_STREQ(to_string(policy(std::string("version = 1\n[default]\naction = \"") + action + "\"\n").default_action),
                     action);
    for (const char* level : {"error", "warn", "info", "debug"})
        EXPECT_STREQ(to_string(policy(std::string("version = 1\n[log]\nlevel = \"") + level + "\"\n").log.level), level);
    EXPECT_EQ(policy("version = 1\n[log]\nto = \"syslog\"\n").log.to, LogSink::syslog);
    EXPECT_EQ(policy("version = 1\n[log]\nto = \"none\"\n").log.to, LogSink::none);
    EXPECT_EQ(policy("version = 1\n[log]\nto = \"stderr\"\n").log.to, LogSink::stderr_sink);
    EXPECT_EQ(policy("version = 1\n[log]\nformat = \"text\"\n").log.format, LogFormat::text);
    for (const char* protocol : {"tcp", "udp", "any"})
        EXPECT_STREQ(to_string(policy(std::string("version = 1\n[[rule]]\nname = \"r\"\naction = \"allow\"\nprotocol = \"") +
                                      protocol + "\"\n")
                                   .rules.at(0)
                                   .protocol),
                     protocol);
}

TEST(ParseValid, PortEdges) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "edges"
action = "allow"
port = [0, 65535, "0-65535", "7-7"]
)");
    ASSERT_EQ(p.rules.at(0).ports.size(), 4u);
    EXPECT_EQ(p.rules[0].ports[0].first, 0);
    EXPECT_EQ(p.rules[0].ports[1].last, 65535);
    EXPECT_EQ(p.rules[0].ports[2].first, 0);
    EXPECT_EQ(p.rules[0].ports[2].last, 65535);
    EXPECT_EQ(p.rules[0].ports[3].first, 7);
    EXPECT_EQ(p.rules[0].ports[3].last, 7);
}

// --- every error class, with its line and column -------------------------------------

TEST(ParseErrors, TomlSyntax) {
    const auto found = problems("version = 1\n[log\nto = \"stderr\"\n");
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].rfind("p.toml:2:", 0), 0u) << found[0];
    EXPECT_NE(found[0].find(": error: TOML syntax error: "), std::string::npos) << found[0];
    const auto duplicate = problems("version = 1\nmode = \"audit\"\nmode = \"enforce\"\n");
    ASSERT_EQ(duplicate.size(), 1u);
    EXPECT_EQ(duplicate[0].rfind("p.toml:3:", 0), 0u) << duplicate[0];
}

TEST(ParseErrors, UnknownKeyAtTopLevel) {
    expect_invalid("version = 1\nmodes = \"audit\"\n",
                   {"p.toml:2:1: error: unknown key \"modes\" at top level (allowed: version, mode, loopback, default, "
                    "log, rule, children)"});
    expect_invalid("version = 1\n[logging]\nto = \"none\"\n",
                   {"p.toml:2:2: error: unknown key \"logging\" at top level (allowed: version, mode, loopback, "
                    "default, log, rule, children)"});
}

TEST(ParseErrors, UnknownKeyInEachTable) {
    expect_invalid("version = 1\n[loopback]\nipv5 = \"x\"\n",
                   {"p.toml:3:1: error: unknown key \"ipv5\" in [loopback] (allowed: ipv4, ipv6, dual_stack)"});
    expect_invalid("version = 1\n[default]\n  actoin = \"deny\"\n",
                   {"p.toml:3:3: error: unknown key \"actoin\" in [default] (allowed: action, udp_ephemeral)"});
    expect_invalid("version = 1\n[log]\nto = \"none\"\nfile = \"/x\"\n",
                   {"p.toml:4:1: error: unknown key \"file\" in [log] (allowed: to, path, format, level, rate)"});
    expect_invalid("version = 1\n[children]\ninherits = true\n",
                   {"p.toml:3:1: error: unknown key \"inherits\" in [children] (allowed: inherit)"});
}

TEST(ParseErrors, UnknownKeyInRule) {
    expect_invalid(R"(version = 1
[[rule]]
name = "web"
action = "allow"
adress = "0.0.0.0/0"
)",
                   {"p.toml:5:1: error: unknown key \"adress\" in [[rule]] \"web\" (allowed: name, action, program, "
                    "command, service, address, port, protocol)"});
    // A rule without a name is named by its number.
    expect_invalid(R"(version = 1
[[rule]]
name = "a"
action = "allow"
[[rule]]
action = "allow"
ports = 80
)",
                   {"p.toml:5:1: error: [[rule]] #2 has no name (every rule needs a unique name)",
                    "p.toml:7:1: error: unknown key \"ports\" in [[rule]] #2 (allowed: name, action, program, command, "
                    "service, address, port, protocol)"});
}

TEST(ParseErrors, WrongType) {
    expect_invalid("version = 1\n[log]\nrate = \"50\"\n", {"p.toml:3:8: error: log.rate: expected an integer, got a string"});
    expect_invalid("version = \"1\"\n", {"p.toml:1:11: error: version: expected an integer, got a string"});
    expect_invalid("version = 1\nmode = 1\n", {"p.toml:2:8: error: mode: expected a string, got an integer"});
    expect_invalid("version = 1\n[children]\ninherit = \"yes\"\n",
                   {"p.toml:3:11: error: children.inherit: expected a boolean, got a string"});
    expect_invalid("version = 1\nlog = 5\n", {"p.toml:2:7: error: log: expected a table ([log]), got an integer"});
    expect_invalid("version = 1\n[loopback]\nipv4 = 127.0\n",
                   {"p.toml:3:8: error: loopback.ipv4: expected a string, got a floating-point number"});
    expect_invalid("version = 1\n[rule]\nname = \"x\"\n",
                   {"p.toml:2:1: error: rule: expected an array of tables ([[rule]]), got a table"});
    expect_invalid("version = 1\nrule = [1, 2]\n",
                   {"p.toml:2:8: error: rule: expected an array of tables ([[rule]]), got an array of other values"});
    expect_invalid(R"(version = 1
[[rule]]
name = "r"
action = "allow"
program = ["/bin/a"]
port = 80.5
address = 10
)",
                   {"p.toml:5:11: error: rule.program: expected a string, got an array",
                    "p.toml:6:8: error: rule.port: expected a port (80, \"80\" or \"8000-8099\") or an array of them, "
                    "got a floating-point number",
                    "p.toml:7:11: error: rule.address: expected a string or an array of strings, got an integer"});
}

TEST(ParseErrors, BadEnumValue) {
    expect_invalid("version = 1\n[log]\nto = \"filee\"\n",
                   {"p.toml:3:6: error: log.to: \"filee\" is not one of stderr, file, syslog, none"});
    expect_invalid("version = 1\nmode = \"enforcing\"\n",
                   {"p.toml:2:8: error: mode: \"enforcing\" is not one of enforce, audit"});
    expect_invalid("version = 1\n[default]\naction = \"block\"\nudp_ephemeral = \"yes\"\n",
                   {"p.toml:3:10: error: default.action: \"block\" is not one of allow, rewrite, deny",
                    "p.toml:4:17: error: default.udp_ephemeral: \"yes\" is not one of allow, apply"});
    expect_invalid("version = 1\n[loopback]\ndual_stack = \"both\"\n",
                   {"p.toml:3:14: error: loopback.dual_stack: \"both\" is not one of ipv4, ipv6"});
    expect_invalid("version = 1\n[log]\nformat = \"xml\"\nlevel = \"trace\"\n",
                   {"p.toml:3:10: error: log.format: \"xml\" is not one of text, json",
                    "p.toml:4:9: error: log.level: \"trace\" is not one of error, warn, info, debug"});
    expect_invalid(R"(version = 1
[[rule]]
name = "r"
action = "permit"
protocol = "sctp"
)",
                   {"p.toml:4:10: error: rule.action: \"permit\" is not one of allow, rewrite, deny",
                    "p.toml:5:12: error: rule.protocol: \"sctp\" is not one of tcp, udp, any"});
}

// A one-rule policy with the given address line, for the CIDR errors.
std::string rule_with(const std::string& line) {
    return "version = 1\n[[rule]]\nname = \"r\"\naction = \"allow\"\n" + line + "\n";
}

TEST(ParseErrors, BadCidr) {
    expect_invalid(rule_with("address = \"10.0.0.0/33\""),
                   {"p.toml:5:11: error: rule.address: \"10.0.0.0/33\" has a bad prefix length (allowed: /0-/32 for IPv4)"});
    expect_invalid(rule_with("address = \"::/129\""),
                   {"p.toml:5:11: error: rule.address: \"::/129\" has a bad prefix length (allowed: /0-/128 for IPv6)"});
    expect_invalid(rule_with("address = [\"10.0.0.0/8\", \"10.0.0.300\", \"10.0.0.0/\", \"10.0.0.0/x\", \"\", \"eth0\"]"),
                   {"p.toml:5:26: error: rule.address: \"10.0.0.300\" is not an IPv4 or IPv6 address or CIDR",
                    "p.toml:5:40: error: rule.address: \"10.0.0.0/\" has a bad prefix length (allowed: /0-/32 for IPv4)",
                    "p.toml:5:53: error: rule.address: \"10.0.0.0/x\" has a bad prefix length (allowed: /0-/32 for IPv4)",
                    "p.toml:5:67: error: rule.address: \"\" is not an IPv4 or IPv6 address or CIDR",
                    "p.toml:5:71: error: rule.address: \"eth0\" is not an IPv4 or IPv6 address or CIDR"});
    expect_invalid(rule_with("address = [\"fe80::1%eth0\", 5]"),
                   {"p.toml:5:12: error: rule.address: \"fe80::1%eth0\" is not an IPv4 or IPv6 address or CIDR",
                    "p.toml:5:28: error: rule.address: expected a string or an array of strings, got an integer"});
    expect_invalid(rule_with("address = []"),
                   {"p.toml:5:11: error: rule.address: empty array (omit address to match any address)"});
}

TEST(ParseWarnings, CidrHostBits) {
    const auto result = parse_policy(rule_with("address = \"10.1.2.3/8\""), "p.toml");
    ASSERT_TRUE(result.ok());
    ASSERT_EQ(result.diagnostics.size(), 1u);
    EXPECT_EQ(result.diagnostics[0].severity, Diagnostic::Severity::warning);
    EXPECT_EQ(result.diagnostics[0].to_string(),
              "p.toml:5:11: warning: rule.address: \"10.1.2.3/8\" has host bits set; it means 10.0.0.0/8");
}

TEST(ParseErrors, PortOutOfRange) {
    expect_invalid(rule_with("port = 70000"), {"p.toml:5:8: error: rule.port: port 70000 out of range 0-65535"});
    expect_invalid(rule_with("port = -1"), {"p.toml:5:8: error: rule.port: port -1 out of range 0-65535"});
    expect_invalid(rule_with("port = [\"65536\", \"8000-70000\"]"),
                   {"p.toml:5:9: error: rule.port: port 65536 out of range 0-65535",
                    "p.toml:5:18: error: rule.port: port 70000 out of range 0-65535"});
    expect_invalid(rule_with("port = [\"http\", \"80-\", \"-80\", \"1-2-3\", \"\", \" 80\", \"1234567890\"]"),
                   {"p.toml:5:9: error: rule.port: \"http\" is not a port or range (allowed: 0-65535, or \"A-B\")",
                    "p.toml:5:17: error: rule.port: \"80-\" is not a port or range (allowed: 0-65535, or \"A-B\")",
                    "p.toml:5:24: error: rule.port: \"-80\" is not a port or range (allowed: 0-65535, or \"A-B\")",
                    "p.toml:5:31: error: rule.port: \"1-2-3\" is not a port or range (allowed: 0-65535, or \"A-B\")",
                    "p.toml:5:40: error: rule.port: \"\" is not a port or range (allowed: 0-65535, or \"A-B\")",
                    "p.toml:5:44: error: rule.port: \" 80\" is not a port or range (allowed: 0-65535, or \"A-B\")",
                    "p.toml:5:51: error: rule.port: \"1234567890\" is not a port or range (allowed: 0-65535, or \"A-B\")"});
    expect_invalid(rule_with("port = []"), {"p.toml:5:8: error: rule.port: empty array (omit port to match any port)"});
}

TEST(ParseErrors, InvertedRange) {
    expect_invalid(rule_with("port = \"9000-8000\""),
                   {"p.toml:5:8: error: rule.port: range \"9000-8000\" is inverted (write the lower port first)"});
}

TEST(ParseErrors, DuplicateRuleName) {
    expect_invalid(R"(version = 1
[[rule]]
name = "web"
action = "allow"

[[rule]]
name = "web"
action = "deny"
)",
                   {"p.toml:7:8: error: rule.name: duplicate rule name \"web\" (first used by the rule at line 2)"});
}

TEST(ParseErrors, RuleNeedsNameAndAction) {
    expect_invalid("version = 1\n[[rule]]\nport = 80\n",
                   {"p.toml:2:1: error: [[rule]] #1 has no name (every rule needs a unique name)",
                    "p.toml:2:1: error: [[rule]] #1 has no action (allowed: allow, rewrite, deny)"});
    expect_invalid("version = 1\n[[rule]]\nname = \"\"\naction = \"allow\"\n",
                   {"p.toml:3:8: error: rule.name: must not be empty"});
    expect_invalid("version = 1\n[[rule]]\nname = \"default\"\naction = \"allow\"\n",
                   {"p.toml:3:8: error: rule.name: \"default\" is reserved (default, loopback and udp-ephemeral name "
                    "built-in decisions)"});
}

TEST(ParseErrors, LoopbackTargetOutsideLoopback) {
    expect_invalid("version = 1\n[loopback]\nipv4 = \"10.0.0.1\"\n",
                   {"p.toml:3:8: error: loopback.ipv4: \"10.0.0.1\" is not in 127.0.0.0/8"});
    expect_invalid("version = 1\n[loopback]\nipv4 = \"0.0.0.0\"\nipv6 = \"::2\"\n",
                   {"p.toml:3:8: error: loopback.ipv4: \"0.0.0.0\" is not in 127.0.0.0/8",
                    "p.toml:4:8: error: loopback.ipv6: \"::2\" is not ::1 (the only IPv6 loopback address)"});
    expect_invalid("version = 1\n[loopback]\nipv6 = \"::ffff:127.0.0.1\"\n",
                   {"p.toml:3:8: error: loopback.ipv6: \"::ffff:127.0.0.1\" is not ::1 (the only IPv6 loopback "
                    "address)"});
    expect_invalid("version = 1\n[loopback]\nipv4 = \"::1\"\nipv6 = \"127.0.0.1\"\n",
                   {"p.toml:3:8: error: loopback.ipv4: \"::1\" is not an IPv4 address",
                    "p.toml:4:8: error: loopback.ipv6: \"127.0.0.1\" is not an IPv6 address"});
    EXPECT_EQ(text(policy("version = 1\n[loopback]\nipv4 = \"127.255.0.9\"\n").loopback_ipv4), "127.255.0.9:0");
}

TEST(ParseErrors, LogFileWithoutPath) {
    expect_invalid("version = 1\n[log]\nto = \"file\"\n",
                   {"p.toml:3:6: error: log.to = \"file\" needs log.path (the file to append to)"});
    expect_invalid("version = 1\n[log]\nto = \"file\"\npath = \"bindguard.log\"\n",
                   {"p.toml:4:8: error: log.path: \"bindguard.log\" is not an absolute path"});
}

TEST(ParseWarnings, LogPathWithoutFile) {
    const auto result = parse_policy("version = 1\n[log]\nto = \"stderr\"\npath = \"/tmp/x.log\"\n", "p.toml");
    ASSERT_TRUE(result.ok());
    ASSERT_EQ(result.diagnostics.size(), 1u);
    EXPECT_EQ(result.diagnostics[0].to_string(),
              "p.toml:4:8: warning: log.path is ignored unless log.to = \"file\"");
}

TEST(ParseErrors, LogRateRange) {
    expect_invalid("version = 1\n[log]\nrate = -5\n",
                   {"p.toml:3:8: error: log.rate: -5 is out of range (allowed: 0 = no limit, or up to 4294967295 "
                    "lines per second)"});
    expect_invalid("version = 1\n[log]\nrate = 4294967296\n",
                   {"p.toml:3:8: error: log.rate: 4294967296 is out of range (allowed: 0 = no limit, or up to "
                    "4294967295 lines per second)"});
    EXPECT_EQ(policy("version = 1\n[log]\nrate = 4294967295\n").log.rate, 4294967295u);
}

TEST(ParseErrors, MissingVersion) {
    expect_invalid("mode = \"audit\"\n", {"p.toml:1:1: error: missing version (the first line of a policy is version = 1)"});
    expect_invalid("", {"p.toml:1:1: error: missing version (the first line of a policy is version = 1)"});
}

TEST(ParseErrors, UnsupportedVersion) {
    expect_invalid("version = 2\n", {"p.toml:1:11: error: version: unsupported version 2 (this bindguard supports version 1)"});
    expect_invalid("\n\nversion = 0\n", {"p.toml:3:11: error: version: unsupported version 0 (this bindguard supports version 1)"});
}

// All errors of a file are reported in one pass, in file order, whatever the table order.
TEST(ParseErrors, AllErrorsInFileOrder) {
    expect_invalid(R"(version = 3
[log]
to = "filee"
rate = "50"

[[rule]]
name = "web"
action = "allow"
adress = "0.0.0.0/0"
port = ["9000-8000", 70000]

[[rule]]
name = "web"
action = "allow"

[default]
action = "nope"
)",
                   {"p.toml:1:11: error: version: unsupported version 3 (this bindguard supports version 1)",
                    "p.toml:3:6: error: log.to: \"filee\" is not one of stderr, file, syslog, none",
                    "p.toml:4:8: error: log.rate: expected an integer, got a string",
                    "p.toml:9:1: error: unknown key \"adress\" in [[rule]] \"web\" (allowed: name, action, program, "
                    "command, service, address, port, protocol)",
                    "p.toml:10:9: error: rule.port: range \"9000-8000\" is inverted (write the lower port first)",
                    "p.toml:10:22: error: rule.port: port 70000 out of range 0-65535",
                    "p.toml:13:8: error: rule.name: duplicate rule name \"web\" (first used by the rule at line 6)",
                    "p.toml:17:10: error: default.action: \"nope\" is not one of allow, rewrite, deny"});
}

TEST(Diagnostics, ToString) {
    Diagnostic d{Diagnostic::Severity::error, "/etc/bindguard/policy.toml", {3, 7}, "bad"};
    EXPECT_EQ(d.to_string(), "/etc/bindguard/policy.toml:3:7: error: bad");
    d.severity = Diagnostic::Severity::warning;
    EXPECT_EQ(d.to_string(), "/etc/bindguard/policy.toml:3:7: warning: bad");
}

// --- the shadowing warning ---------------------------------------------------------

// The warnings of a valid policy.
std::vector<std::string> warnings(std::string_view toml) {
    const auto result = parse_policy(toml, "p.toml");
    EXPECT_TRUE(result.ok()) << toml;
    std::vector<std::string> out;
    for (const auto& d : result.diagnostics) {
        EXPECT_EQ(d.severity, Diagnostic::Severity::warning);
        out.push_back(d.to_string());
    }
    return out;
}

TEST(Shadowing, CatchAllHidesLaterRules) {
    EXPECT_EQ(warnings(R"(version = 1
[[rule]]
name = "a"
action = "allow"

[[rule]]
name = "b"
action = "deny"
port = 80
)"),
              std::vector<std::string>{
                  "p.toml:6:1: warning: rule \"b\" can never match: rule \"a\" (line 2) matches everything it does"});
}

TEST(Shadowing, CoveringAddressesPortsAndProtocol) {
    EXPECT_EQ(warnings(R"(version = 1
[[rule]]
name = "wide"
action = "allow"
address = ["10.0.0.0/8", "::/0"]
port = ["1-1024", 8080]
protocol = "any"
service = "web"

[[rule]]
name = "narrow"
action = "deny"
address = ["10.1.0.0/16", "::ffff:10.2.0.0/112", "2001:db8::/32"]
port = [80, "443-444", 8080]
protocol = "tcp"
service = "web"
program = "/usr/bin/*"
)"),
              std::vector<std::string>{"p.toml:10:1: warning: rule \"narrow\" can never match: rule \"wide\" (line 2) "
                                       "matches everything it does"});
}

// Each of these later rules can match something the earlier one does not: no warning.
TEST(Shadowing, NoWarningWhenTheLaterRuleCanMatch) {
    const char* earlier = R"(version = 1
[[rule]]
name = "a"
action = "allow"
address = "10.0.0.0/8"
port = "80-90"
protocol = "tcp"
program = "/usr/bin/caddy"
)";
    for (const char* later : {"address = \"11.0.0.0/8\"", "address = \"::/0\"", "port = 91", "port = [\"80-91\"]",
                              "protocol = \"udp\"", "protocol = \"any\"", "program = \"/usr/bin/*\"",
                              "address = [\"10.0.0.0/8\", \"11.0.0.1\"]"}) {
        std::string text = std::string(earlier) + "[[rule]]\nname = \"b\"\naction = \"deny\"\n";
        // b keeps a's filters except the one that widens it.
        const std::string key = std::string(later).substr(0, std::string(later).find(' '));
        if (key != "address") text += "address = \"10.0.0.0/8\"\n";
        if (key != "port") text += "port = \"80-90\"\n";
        if (key != "protocol") text += "protocol = \"tcp\"\n";
        if (key != "program") text += "program = \"/usr/bin/caddy\"\n";
        text += std::string(later) + "\n";
        EXPECT_TRUE(warnings(text).empty()) << later;
    }
    // A filter the earlier rule does not have only narrows the later one: still shadowed.
    for (const char* narrower : {"command = \"x\"\n", "service = \"s\"\n"})
        EXPECT_EQ(warnings(std::string(earlier) + "[[rule]]\nname = \"b\"\naction = \"deny\"\naddress = \"10.0.0.0/8\"\n"
                                                  "port = 80\nprotocol = \"tcp\"\nprogram = \"/usr/bin/caddy\"\n" + narrower),
                  std::vector<std::string>{"p.toml:9:1: warning: rule \"b\" can never match: rule \"a\" (line 2) "
                                           "matches everything it does"})
            << narrower;
    // Without any address filter a later rule also matches IPv6, which 0.0.0.0/0 does not.
    EXPECT_TRUE(warnings("version = 1\n[[rule]]\nname = \"a\"\naction = \"allow\"\naddress = \"0.0.0.0/0\"\n"
                         "[[rule]]\nname = \"b\"\naction = \"deny\"\n")
                    .empty());
    EXPECT_EQ(warnings("version = 1\n[[rule]]\nname = \"a\"\naction = \"allow\"\naddress = [\"0.0.0.0/0\", \"::/0\"]\n"
                       "[[rule]]\nname = \"b\"\naction = \"deny\"\n")
                  .size(),
              1u);
}

// Shadowing is only looked for in valid policies (a broken rule would give spurious warnings).
TEST(Shadowing, NotReportedWithErrors) {
    EXPECT_EQ(problems("version = 2\n[[rule]]\nname = \"a\"\naction = \"allow\"\n[[rule]]\nname = \"b\"\naction = \"deny\"\n")
                  .size(),
              1u);
}

// --- files ---------------------------------------------------------------------------

TEST(LoadFile, MissingDirectoryAndUnreadable) {
    auto missing = load_policy_file("/nonexistent/bindguard/policy.toml");
    EXPECT_FALSE(missing.ok());
    ASSERT_EQ(missing.diagnostics.size(), 1u);
    EXPECT_EQ(missing.diagnostics[0].to_string(),
              "/nonexistent/bindguard/policy.toml:1:1: error: cannot open policy: No such file or directory");
    auto directory = load_policy_file("/tmp");
    ASSERT_EQ(directory.diagnostics.size(), 1u);
    EXPECT_EQ(directory.diagnostics[0].to_string(), "/tmp:1:1: error: is a directory, not a policy file");
    auto device = load_policy_file("/dev/null");
    ASSERT_EQ(device.diagnostics.size(), 1u);
    EXPECT_EQ(device.diagnostics[0].to_string(), "/dev/null:1:1: error: is not a regular file, not a policy file");
}

// A file written to a temporary path, removed by the destructor.
struct TempFile {
    std::string path;
    explicit TempFile(std::string_view content, mode_t mode = 0644) {
        char name[] = "/tmp/bindguard-unit-XXXXXX";
        const int fd = mkstemp(name);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
        fchmod(fd, mode);
        close(fd);
        path = name;
    }
    ~TempFile() { unlink(path.c_str()); }
};

TEST(LoadFile, ReadsAndNamesTheFile) {
    TempFile file("version = 1\n[default]\naction = \"deny\"\n");
    const auto result = load_policy_file(file.path);
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result.policy->source, file.path);
    EXPECT_EQ(result.policy->default_action, Action::deny);

    TempFile bad("version = 1\n[default]\naction = \"nope\"\n");
    const auto invalid = load_policy_file(bad.path);
    ASSERT_EQ(invalid.diagnostics.size(), 1u);
    EXPECT_EQ(invalid.diagnostics[0].to_string(),
              bad.path + ":3:10: error: default.action: \"nope\" is not one of allow, rewrite, deny");
}

TEST(LoadFile, TooLarge) {
    TempFile big(std::string(1 << 20, '#') + "\n#\n");
    const auto result = load_policy_file(big.path);
    ASSERT_EQ(result.diagnostics.size(), 1u);
    EXPECT_EQ(result.diagnostics[0].to_string(), big.path + ":1:1: error: policy file is larger than 1 MiB");
}

// A file without read permission, loaded by an unprivileged user (root reads anything, so a
// child process drops to uid/gid 65534 first and reports the diagnostic through a pipe).
TEST(LoadFile, Unreadable) {
    TempFile secret("version = 1\n", 0000);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        close(fds[0]);
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(2);
        const auto result = load_policy_file(secret.path);
        const std::string line = result.diagnostics.empty() ? "none" : result.diagnostics[0].to_string();
        _exit(write(fds[1], line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 3);
    }
    close(fds[1]);
    std::string line;
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) line.append(buf, static_cast<std::size_t>(n));
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    EXPECT_EQ(line, secret.path + ":1:1: error: cannot open policy: Permission denied");
}

// [children]: inherit defaults to true (also for an empty table), must be a
// boolean, the table must be a table, and for_process() keeps the setting.
TEST(ParseChildren, TableRules) {
    EXPECT_TRUE(policy("version = 1\n").children_inherit);
    EXPECT_TRUE(policy("version = 1\n[children]\n").children_inherit);
    EXPECT_TRUE(policy("version = 1\n[children]\ninherit = true\n").children_inherit);
    EXPECT_FALSE(policy("version = 1\n[children]\ninherit = false\n").children_inherit);
    expect_invalid("version = 1\nchildren = false\n",
                   {"p.toml:2:12: error: children: expected a table ([children]), got a boolean"});
    expect_invalid("version = 1\n[children]\ninherit = 1\n",
                   {"p.toml:3:11: error: children.inherit: expected a boolean, got an integer"});
    const Policy off = policy("version = 1\n[children]\ninherit = false\n");
    EXPECT_FALSE(for_process(off, "/usr/bin/node", "node server.js", "web").children_inherit);
    EXPECT_TRUE(for_process(policy("version = 1\n"), "/usr/bin/node", "node", "").children_inherit);
}

// Every example policy shipped under examples/policy validates without errors.
TEST(Examples, AllValidate) {
    const std::string dir = std::string(BINDGUARD_SOURCE_DIR) + "/examples/policy";
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.path().extension() == ".toml") files.push_back(entry.path().string());
    EXPECT_GE(files.size(), 3u);  // default, proxy, audit
    for (const auto& file : files) {
        const auto result = load_policy_file(file);
        std::string all;
        for (const auto& d : result.diagnostics) all += d.to_string() + "\n";
        EXPECT_TRUE(result.ok()) << all;
        EXPECT_TRUE(result.diagnostics.empty()) << all;
    }
}

}  // namespace

namespace {

// Warnings::skip (what the library asks for): the same policy and the same errors, no warnings.
TEST(ParseWarnings, SkipGivesTheSamePolicyWithoutWarnings) {
    const std::string text = R"(version = 1
[[rule]]
name = "all"
action = "allow"
address = "10.1.2.3/8"
[[rule]]
name = "shadowed"
action = "deny"
address = "10.9.0.0/16"
)";
    const auto reported = parse_policy(text, "w.toml");
    const auto skipped = parse_policy(text, "w.toml", Warnings::skip);
    ASSERT_TRUE(reported.ok());
    ASSERT_TRUE(skipped.ok());
    EXPECT_EQ(reported.diagnostics.size(), 2u);  // host bits; shadowed rule
    EXPECT_TRUE(skipped.diagnostics.empty());
    ASSERT_EQ(skipped.policy->rules.size(), 2u);
    EXPECT_TRUE(skipped.policy->rules[0].addresses[0].covers(reported.policy->rules[0].addresses[0]));
    EXPECT_TRUE(reported.policy->rules[0].addresses[0].covers(skipped.policy->rules[0].addresses[0]));

    const auto invalid = parse_policy("version = 1\nmode = \"loud\"\n", "w.toml", Warnings::skip);
    EXPECT_FALSE(invalid.ok());
    ASSERT_EQ(invalid.diagnostics.size(), 1u);
    EXPECT_EQ(invalid.diagnostics[0].severity, Diagnostic::Severity::error);
}

// fuzz/fuzz_policy found that toml++ 3.3.0 reaches undefined behaviour
// (__builtin_unreachable; marzer/tomlplusplus#190, #295) on a non-ASCII
// character where it asks "is this whitespace?". Such text is refused with a
// position before toml++ sees it; non-ASCII text in strings and comments is fine.
TEST(ParseErrors, NonAsciiWhereTomlPlusPlusWouldMisbehaveIsRefusedWithAPosition) {
    struct Case {
        std::string text;
        std::uint32_t line, column;
        const char* words;
    };
    const Case cases[] = {
        {"6defa\xca\xa0" "efaultesnarme ='\t\t\t\t\t\t\tulte", 1, 6, "outside a string or comment"},  // the fuzzer's input
        {"version = 1\nmode = \"enforce\"\xc3\xa9\n", 2, 17, "outside a string or comment"},
        {"version = 1\n\xc2\xa0version = 1\n", 2, 1, "outside a string or comment"},
        {"version = 1\ns = \"\"\"\\\n\xc2\xa7\"\"\"\n", 3, 1, "after a backslash"},  // the document of tomlplusplus#190
        {"version = 1\ns = \"\"\"\\\xc3\xa9\"\"\"\n", 2, 9, "after a backslash"},
        // The second finding: a quote inside a bare value does not open a string for toml++.
        {"# x\nipv4 =2\"127\xd2\x8f\xd1\xafxt re", 2, 12, "outside a string or comment"},
        {"version = 1\na = 1.\"\xc3\xa9\"\n", 2, 8, "outside a string or comment"},
        {"version = 1\na = \"x\"\"\xc3\xa9\"\n", 2, 9, "outside a string or comment"},
        // The third finding: a NUL in an array, then a "string" toml++ never reaches as one.
        {std::string("-en = [2\0[\'\'\'2r\xc6\xbd\'\'\'", 17), 1, 9, "a control character"},
        {"version = 1 # bell \x07\n", 1, 20, "a control character"},
        {"version = 1\na = \"\x7f\"\n", 2, 6, "a control character"},
        // The fourth finding: a bare value takes quotes and brackets up to a terminator.
        {"versoni = -are-t-e[h[\"\xcd\x8a[[[[==\xb1", 1, 23, "outside a string or comment"},
    };
    for (const Case& c : cases) {
        const auto parsed = parse_policy(c.text, "p.toml");
        EXPECT_FALSE(parsed.ok()) << c.text;
        ASSERT_EQ(parsed.diagnostics.size(), 1u) << c.text;
        const std::string message = parsed.diagnostics[0].to_string();
        EXPECT_EQ(message.rfind("p.toml:" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": error: ", 0),
                  0u)
            << message;
        EXPECT_NE(message.find(c.words), std::string::npos) << message;
    }
    const auto fine = parse_policy(
        "version = 1 # caf\xc3\xa9 \xca\xa0\n[[rule]]\nname = \"r\xc3\xa9gle \xca\xa0\"\naction = \"allow\"\n"
        "service = '''\xc2\xa7'''\nprogram = \"\"\"\\\n  /usr/bin/x\xc3\xa9\"\"\"\n"
        "address = [ # caf\xc3\xa9\n  \"10.0.0.0/8\",\n  \"::/0\" ]\n"
        "[[rule]]\nname = \"t\xc3\xa9\"\naction = \"deny\"\n[children]\n\"inherit\" = true\n",
        "p.toml");
    EXPECT_TRUE(fine.ok()) << (fine.diagnostics.empty() ? "" : fine.diagnostics[0].to_string());
}

}  // namespace
