// Policy parsing: valid files, every validation error class with its position, warnings.
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
