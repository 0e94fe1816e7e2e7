// Shared helpers of the shim integration tests: run bg-bindtest (or any program)
// with and without the real libbindguard.so, and read its result line and the
// library's log lines.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace shimtest {

// "ret=0 errno=0 local=127.0.0.1:41234" -> {ret: 0, errno: 0, local: ...}.
using Fields = std::map<std::string, std::string>;
Fields fields(const std::string& line);

// The lines of text (without the newline).
std::vector<std::string> lines(const std::string& text);
// The lines of text that the library wrote ("bindguard[PID]: ..." or JSON).
std::vector<std::string> log_lines(const std::string& text);

// The policy every "default policy" test uses: examples/policy/default.toml,
// named explicitly so that no /etc/bindguard/policy.toml on the machine matters.
std::string default_policy();
// Writes a policy file with text into a fresh temporary directory; returns its path.
std::string write_policy(const std::string& text);

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

// The first result line of a helper run (the line starting "ret=" or "locals=").
Fields result_of(const bgtest::Result& result);

}  // namespace shimtest
