// Shared by the tests of the `bindguard` command.
#pragma once

#include <sys/stat.h>

#include <sstream>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace clitest {

// Runs the built `bindguard` with args. Returns what it did.
inline bgtest::Result bindguard(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
    args.insert(args.begin(), bgtest::cli_path());
    return bgtest::run(args, env);
}

// The lines of text, without their '\n'.
inline std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> result;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
}

// Writes text to a new file in a fresh temporary directory. Returns its path.
inline std::string temp_file(const std::string& name, const std::string& text) {
    std::string path = bgtest::temp_dir() + "/" + name;
    bgtest::write_file(path, text);
    return path;
}

// True when path exists.
inline bool exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

// The environment changes under which the command uses its built-in policy
// (it still reads /etc/bindguard/policy.toml; tests check that file is absent).
inline std::vector<std::string> builtin_policy_env() { return {"-BINDGUARD_POLICY", "-BINDGUARD_SHIM"}; }

// Extra environment for programs that get the library through `bindguard run`: in a
// sanitizer build, uninstrumented programs need the sanitizer options of shim_env().
inline std::vector<std::string> preload_env() {
    std::vector<std::string> env = {"-BINDGUARD_POLICY", "-BINDGUARD_SHIM", "-LD_PRELOAD"};
    for (const std::string& entry : bgtest::shim_env())
        if (!entry.starts_with("LD_PRELOAD=")) env.push_back(entry);
    return env;
}

}  // namespace clitest
