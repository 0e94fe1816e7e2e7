// Small text and file helpers that several test folders share: reading the
// machine-readable lines the test programs print, and writing policy files.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace bgtest {

// "ret=0 errno=0 local=127.0.0.1:41234" -> {ret: 0, errno: 0, local: ...}.
using Fields = std::map<std::string, std::string>;
// Returns the "key=value" words of line as a map (words without '=' are ignored).
Fields fields(const std::string& line);

// Returns the lines of text (without the newline).
std::vector<std::string> lines(const std::string& text);

// Returns the path of examples/policy/default.toml, the policy every "default policy"
// test names explicitly (so that no /etc/bindguard/policy.toml on the machine matters).
std::string default_policy();
// Writes a policy file with text into a fresh temporary directory and compiles it
// (`bindguard compile`'s library call), so that the library finds its image beside it;
// returns its path. An invalid policy is written but has no image.
std::string write_policy(const std::string& text);
// The same without compiling: the library refuses it ("not compiled") and fails closed.
std::string write_uncompiled_policy(const std::string& text);

}  // namespace bgtest
