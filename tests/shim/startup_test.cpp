// The library's start-up: its constructor captures what the process
// started with (launch.hpp); the state is built then under a policy file, on
// first use under the built-in policy. These tests pin what that must not
// change: a process is judged by its start, whatever it does before its first
// bind, and a policy file's errors and log sink are there from the start.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "shim_test_util.hpp"
#include "support/process.hpp"

using namespace shimtest;

namespace {

// Allows the wildcard only for the command line and service the helper starts
// with; anything else is rewritten (the default).
constexpr const char* kStartPolicy = R"(version = 1
[[rule]]
name = "started-so"
action = "allow"
command = "*bg-bindtest after-start 0.0.0.0:4341"
service = "svc-at-start"
address = "0.0.0.0"
)";

std::string shell_quote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

}  // namespace

// The helper renames itself (its argv area, as setproctitle and Node do), changes
// directory and sets BINDGUARD_POLICY and BINDGUARD_SERVICE to other values before
// its first bind: the bind is still judged by the relative policy path, the
// service and the command line it started with.
TEST(Startup, AProcessIsJudgedByHowItStartedNotByWhatItChangedBeforeItsFirstBind) {
    const std::string policy = write_policy(kStartPolicy);
    const std::string directory = policy.substr(0, policy.rfind('/'));
    const std::string start = "cd " + shell_quote(directory) + " && env $SHIM_ENV BINDGUARD_POLICY=policy.toml ";
    auto allowed = in_netns(start + "BINDGUARD_SERVICE=svc-at-start \"$HELPER\" after-start 0.0.0.0:4341", policy);
    ASSERT_EQ(allowed.status, 0) << allowed.err;
    EXPECT_EQ(result_of(allowed)["ret"], "0") << allowed.out << allowed.err;
    EXPECT_EQ(result_of(allowed)["local"], "0.0.0.0:4341") << allowed.out << allowed.err;
    EXPECT_EQ(allowed.err.find("error"), std::string::npos) << allowed.err;

    // The same start under another service: the rule does not match, the default rewrites.
    auto other = in_netns(start + "BINDGUARD_SERVICE=svc-other \"$HELPER\" after-start 0.0.0.0:4341", policy);
    ASSERT_EQ(other.status, 0) << other.err;
    EXPECT_EQ(result_of(other)["local"], "127.0.0.1:4341") << other.out << other.err;
}

// A policy file is read when the process starts, whether it binds or not: its
// errors appear at once and its log file is opened (the exec functions, which may
// run after vfork(), need its [children] inherit without building anything); the
// bind then fails closed. (Under the built-in policy the state waits for the first
// bind; nothing of that can be seen from outside but the time it saves.)
TEST(Startup, APolicyFileIsReadWhenTheProcessStarts) {
    const std::string log = bgtest::temp_dir() + "/startup.log";
    const std::string valid = write_policy("version = 1\n[log]\nto = \"file\"\npath = \"" + log + "\"\n");
    auto opened = bgtest::run({"/bin/true"}, shim_env(valid));
    EXPECT_EQ(opened.status, 0) << opened.err;
    EXPECT_EQ(access(log.c_str(), F_OK), 0) << "the log file of the policy was not opened at start";

    const std::string policy = write_policy("version = 1\n[default]\naction = \"bogus\"\n");
    auto quiet = bgtest::run({"/bin/true"}, shim_env(policy));
    EXPECT_EQ(quiet.status, 0) << quiet.err;
    // An invalid policy has no compiled image (the library parses no TOML): that is said at start.
    EXPECT_NE(quiet.err.find("policy.toml:1:1: error: the policy is not compiled"), std::string::npos) << quiet.err;

    auto binds = in_netns("env $SHIM_ENV \"$HELPER\" bind tcp 0.0.0.0:4342", policy);
    ASSERT_EQ(binds.status, 0) << binds.err;
    EXPECT_EQ(result_of(binds)["ret"], "-1") << binds.out << binds.err;
    EXPECT_EQ(result_of(binds)["errno"], "13") << binds.out;
    EXPECT_NE(binds.err.find("policy.toml:1:1: error: the policy is not compiled"), std::string::npos) << binds.err;
}
