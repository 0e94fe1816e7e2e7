// Shared helpers of the shim integration tests: run bg-bindtest (or any program)
// with and without the real libbindguard.so, and read its result line and the
// library's log lines.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/process.hpp"
#include "support/text.hpp"

namespace shimtest {

// From the shared test support (support/text.hpp): fields(), lines(),
// default_policy(), write_policy().
using bgtest::Fields;
using bgtest::default_policy;
using bgtest::fields;
using bgtest::lines;
using bgtest::write_policy;

// The lines of text that the library wrote ("bindguard[PID]: ..." or JSON).
std::vector<std::string> log_lines(const std::string& text);

// The environment that preloads the shim with the policy at policy_path
// (plus extra entries "K=V").
std::vector<std::string> shim_env(const std::string& policy_path, const std::vector<std::string>& extra = {});

// bg-bindtest with the given arguments, with the shim and the policy.
bgtest::Result helper(const std::vector<std::string>& args, const std::string& policy_path,
                      const std::vector<std::string>& extra_env = {});
// bg-bindtest without the shim.
bgtest::Result helper_plain(const std::vector<std::string>& args);

// Runs script with sh inside a new network namespace (unshare -n) whose lo is up.
// "$SHIM_ENV" in the script expands to the env assignments that preload the shim
// with policy_path (use: env $SHIM_ENV "$HELPER" bind ...); "$HELPER" is bg-bindtest.
bgtest::Result in_netns(const std::string& script, const std::string& policy_path = default_policy());

// Moves this whole test process into a new network namespace of its own (lo up), before
// its first test: every program it then starts, every /proc/net it reads and every
// connection it makes is in there, so that a wildcard bind the library fails to rewrite
// is never exposed on the host. Needs root (as in_netns does): without it the program
// fails (exit 1, the reason on stderr).
// Register it once per test program: ::testing::AddGlobalTestEnvironment(new PrivateNetns).
class PrivateNetns : public ::testing::Environment {
public:
    void SetUp() override;
};

// The first result line of a helper run (the line starting "ret=" or "locals=").
Fields result_of(const bgtest::Result& result);

}  // namespace shimtest
