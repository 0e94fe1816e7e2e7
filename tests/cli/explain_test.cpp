// `bindguard explain`: the address rows of BINDING-CASES.md through the real command.
#include <gtest/gtest.h>

#include "cli_support.hpp"

using clitest::bindguard;

namespace {

struct Row {
    const char* name;
    std::vector<std::string> args;
    const char* expected;
};

// Runs explain with the built-in policy (even where /etc/bindguard/policy.toml exists).
// Returns what it did.
bgtest::Result explain_builtin(std::vector<std::string> args) {
    args.insert(args.begin(), "explain");
    return clitest::bindguard_builtin(args);
}

const char* kRulesPolicy =
    "version = 1\n"
    "[[rule]]\n"
    "name = \"public-proxy\"\n"
    "action = \"allow\"\n"
    "program = \"/usr/bin/caddy\"\n"
    "port = [80, 443]\n"
    "[[rule]]\n"
    "name = \"api\"\n"
    "action = \"allow\"\n"
    "service = \"api\"\n"
    "address = [\"10.0.0.0/8\"]\n"
    "[[rule]]\n"
    "name = \"no-public-dns\"\n"
    "action = \"deny\"\n"
    "protocol = \"udp\"\n"
    "port = [53]\n"
    "[[rule]]\n"
    "name = \"next\"\n"
    "action = \"deny\"\n"
    "command = \"*next start*\"\n";

}  // namespace

TEST(CliExplainBuiltin, AddressRowsOfBindingCases) {
    const Row rows[] = {
        {"1 wildcard v4", {"0.0.0.0:3000"}, "rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule default)"},
        {"2 real address", {"192.0.2.10:3000"}, "rewrite tcp 192.0.2.10:3000 -> 127.0.0.1:3000 (rule default)"},
        {"3 dual-stack ::", {"[::]:3000"}, "rewrite tcp [::]:3000 -> [::ffff:127.0.0.1]:3000 (rule default)"},
        {"4 v6only ::", {"--v6only", "[::]:3000"}, "rewrite tcp [::]:3000 -> [::1]:3000 (rule default)"},
        {"5 mapped wildcard", {"[::ffff:0.0.0.0]:80"}, "rewrite tcp [::ffff:0.0.0.0]:80 -> [::ffff:127.0.0.1]:80 (rule default)"},
        {"5 mapped address", {"[::ffff:10.1.2.3]:80"}, "rewrite tcp [::ffff:10.1.2.3]:80 -> [::ffff:127.0.0.1]:80 (rule default)"},
        {"6 127.0.0.1", {"127.0.0.1:3000"}, "allow tcp 127.0.0.1:3000 (rule loopback)"},
        {"6 127.x.y.z", {"127.1.2.3:3000"}, "allow tcp 127.1.2.3:3000 (rule loopback)"},
        {"6 ::1", {"[::1]:3000"}, "allow tcp [::1]:3000 (rule loopback)"},
        {"6 mapped loopback", {"[::ffff:127.0.0.1]:3000"}, "allow tcp [::ffff:127.0.0.1]:3000 (rule loopback)"},
        {"7 udp ephemeral v4", {"--udp", "0.0.0.0:0"}, "allow udp 0.0.0.0:0 (rule udp-ephemeral)"},
        {"7 udp ephemeral v6", {"--udp", "[::]:0"}, "allow udp [::]:0 (rule udp-ephemeral)"},
        {"8 udp server", {"--udp", "0.0.0.0:5353"}, "rewrite udp 0.0.0.0:5353 -> 127.0.0.1:5353 (rule default)"},
        {"9 tcp port 0", {"0.0.0.0:0"}, "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0 (rule default)"},
    };
    for (const Row& row : rows) {
        bgtest::Result result = explain_builtin(row.args);
        EXPECT_EQ(result.status, 0) << row.name << ": " << result.err;
        EXPECT_EQ(result.out, std::string(row.expected) + "\n") << row.name;
        EXPECT_EQ(result.err, "") << row.name;
    }
}

TEST(CliExplainBuiltin, BadAddressExits2NamingTheArgument) {
    for (const char* bad : {"localhost:3000", "0.0.0.0", "0.0.0.0:65536", "[::]3000", "::1:80", "1.2.3.4:-1"}) {
        bgtest::Result result = explain_builtin({bad});
        EXPECT_EQ(result.status, 2) << bad;
        EXPECT_EQ(result.out, "") << bad;
        EXPECT_NE(result.err.find("ADDRESS:PORT"), std::string::npos) << bad << ": " << result.err;
        EXPECT_NE(result.err.find(std::string("'") + bad + "'"), std::string::npos) << bad << ": " << result.err;
        EXPECT_NE(result.err.find("Usage: bindguard explain"), std::string::npos) << result.err;
    }
}

TEST(CliExplainBuiltin, MissingAddressIsAUsageError) {
    bgtest::Result result = explain_builtin({"--udp"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("ADDRESS:PORT"), std::string::npos) << result.err;
}

TEST(CliExplain, RulesOfAPolicyFile) {
    std::string policy = clitest::temp_file("rules.toml", kRulesPolicy);
    const Row rows[] = {
        {"program + port", {"--program", "/usr/bin/caddy", "0.0.0.0:443"}, "allow tcp 0.0.0.0:443 (rule public-proxy)"},
        {"other program", {"--program", "/usr/bin/python3", "0.0.0.0:443"},
         "rewrite tcp 0.0.0.0:443 -> 127.0.0.1:443 (rule default)"},
        {"service + cidr", {"--service", "api", "10.1.2.3:4000"}, "allow tcp 10.1.2.3:4000 (rule api)"},
        {"service, other cidr", {"--service", "api", "192.0.2.1:4000"},
         "rewrite tcp 192.0.2.1:4000 -> 127.0.0.1:4000 (rule default)"},
        {"udp deny", {"--udp", "0.0.0.0:53"}, "deny udp 0.0.0.0:53 -> EACCES (rule no-public-dns)"},
        {"tcp not matched by udp rule", {"0.0.0.0:53"}, "rewrite tcp 0.0.0.0:53 -> 127.0.0.1:53 (rule default)"},
        {"command glob", {"--command", "node node_modules/.bin/next start -p 3000", "[::]:3000"},
         "deny tcp [::]:3000 -> EACCES (rule next)"},
        {"rules come before loopback", {"--command", "next start", "127.0.0.1:3000"},
         "deny tcp 127.0.0.1:3000 -> EACCES (rule next)"},
    };
    for (const Row& row : rows) {
        std::vector<std::string> args = {"explain", "--policy", policy};
        args.insert(args.end(), row.args.begin(), row.args.end());
        bgtest::Result result = bindguard(args);
        EXPECT_EQ(result.status, 0) << row.name << ": " << result.err;
        EXPECT_EQ(result.out, std::string(row.expected) + "\n") << row.name;
    }
}

TEST(CliExplain, PolicyFromEnvironmentLikeTheLibrary) {
    std::string policy = clitest::temp_file("env.toml", kRulesPolicy);
    bgtest::Result result = bindguard({"explain", "--udp", "0.0.0.0:53"}, {"BINDGUARD_POLICY=" + policy});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "deny udp 0.0.0.0:53 -> EACCES (rule no-public-dns)\n");
}

TEST(CliExplain, AuditModeSaysWould) {
    std::string policy = clitest::temp_file("audit.toml", "version = 1\nmode = \"audit\"\n[default]\naction = \"deny\"\n");
    bgtest::Result result = bindguard({"explain", "--policy", policy, "0.0.0.0:3000"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "would-deny tcp 0.0.0.0:3000 -> EACCES (rule default)\n");
    result = bindguard({"explain", "--policy", bgtest::source_dir() + "/examples/policy/audit.toml", "[::]:8080"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "would-rewrite tcp [::]:8080 -> [::ffff:127.0.0.1]:8080 (rule default)\n");
}

TEST(CliExplain, InvalidPolicyExits1WithItsDiagnostics) {
    std::string policy = clitest::temp_file("invalid.toml", "version = 1\n[loopback]\nipv4 = \"10.0.0.1\"\n");
    bgtest::Result result = bindguard({"explain", "--policy", policy, "0.0.0.0:3000"});
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, "");
    EXPECT_TRUE(result.err.starts_with(policy + ":3:")) << result.err;
    EXPECT_NE(result.err.find(": error: "), std::string::npos) << result.err;
    // The same through BINDGUARD_POLICY, and for a file that does not exist.
    result = bindguard({"explain", "0.0.0.0:3000"}, {"BINDGUARD_POLICY=/nonexistent/policy.toml"});
    EXPECT_EQ(result.status, 1);
    EXPECT_TRUE(result.err.starts_with("/nonexistent/policy.toml:1:1: error: ")) << result.err;
}

TEST(CliExplain, SystemPolicyIsUsedWhenPresent) {
    const std::string deny = "version = 1\n[default]\naction = \"deny\"\n";
    bgtest::Result result = clitest::bindguard_with_system_policy(deny, {"explain", "0.0.0.0:3000"}, {"-BINDGUARD_POLICY"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "deny tcp 0.0.0.0:3000 -> EACCES (rule default)\n");
    // BINDGUARD_POLICY comes first, --policy before both.
    std::string env_policy = clitest::temp_file("env.toml", kRulesPolicy);
    result = clitest::bindguard_with_system_policy(deny, {"explain", "0.0.0.0:3000"}, {"BINDGUARD_POLICY=" + env_policy});
    EXPECT_EQ(result.out, "rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule default)\n") << result.err;
    result = clitest::bindguard_with_system_policy(
        deny, {"explain", "--policy", bgtest::source_dir() + "/examples/policy/audit.toml", "0.0.0.0:3000"},
        {"BINDGUARD_POLICY=" + env_policy});
    EXPECT_EQ(result.out, "would-rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule default)\n") << result.err;
}

TEST(CliExplain, InvalidSystemPolicyExits1) {
    bgtest::Result result = clitest::bindguard_with_system_policy("version = 1\nmode = \"loud\"\n", {"explain", "0.0.0.0:3000"},
                                                                  {"-BINDGUARD_POLICY"});
    EXPECT_EQ(result.status, 1);
    EXPECT_TRUE(result.err.starts_with("/etc/bindguard/policy.toml:2:")) << result.err;
}

namespace {

// A valid policy's warnings (a shadowed rule, a CIDR with host bits) are printed by
// explain (the library keeps quiet about them; it prints only errors).
TEST(CliExplain, ValidPolicysWarningsArePrinted) {
    std::string file = clitest::temp_file("warnings.toml",
                                          "version = 1\n"
                                          "[[rule]]\nname = \"all\"\naction = \"allow\"\n"
                                          "[[rule]]\nname = \"web\"\naction = \"deny\"\nport = [80]\n"
                                          "[[rule]]\nname = \"lan\"\naction = \"allow\"\naddress = [\"10.1.2.3/8\"]\n");
    bgtest::Result result = bindguard({"explain", "--policy", file, "0.0.0.0:80"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "allow tcp 0.0.0.0:80 (rule all)\n");
    const auto err = clitest::lines(result.err);
    ASSERT_EQ(err.size(), 3u) << result.err;  // web and lan shadowed, lan's host bits
    for (const std::string& line : err) EXPECT_NE(line.find(": warning: "), std::string::npos) << line;
    EXPECT_NE(result.err.find("host bits"), std::string::npos) << result.err;
}

}  // namespace
