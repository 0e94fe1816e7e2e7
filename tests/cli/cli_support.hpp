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

// The environment changes under which the command uses its built-in policy, together
// with bindguard_builtin() below, which also hides /etc/bindguard/policy.toml.
inline std::vector<std::string> builtin_policy_env() { return {"-BINDGUARD_POLICY", "-BINDGUARD_SHIM"}; }

// Runs the built `bindguard` with args so that it sees no system policy: in a private
// mount namespace where an empty tmpfs covers /etc/bindguard (when it exists), and
// without BINDGUARD_POLICY. Returns what it did.
inline bgtest::Result bindguard_builtin(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"unshare", "-m", "sh", "-c",
                                     "if [ -e /etc/bindguard ]; then mount -t tmpfs none /etc/bindguard || exit 99; fi\n"
                                     "exec \"$0\" \"$@\"",
                                     bgtest::cli_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return bgtest::run(argv, builtin_policy_env());
}

// Extra environment for programs that get the library through `bindguard run`: in a
// sanitizer build, uninstrumented programs need the sanitizer options of shim_env().
inline std::vector<std::string> preload_env() {
    std::vector<std::string> env = {"-BINDGUARD_POLICY", "-BINDGUARD_SHIM", "-LD_PRELOAD"};
    for (const std::string& entry : bgtest::shim_env())
        if (!entry.starts_with("LD_PRELOAD=")) env.push_back(entry);
    return env;
}

// Runs the built `bindguard` with args in a private mount namespace whose /etc is an
// overlay (the host's /etc untouched) holding /etc/bindguard/policy.toml = policy_text.
// Returns what it did.
inline bgtest::Result bindguard_with_system_policy(const std::string& policy_text, const std::vector<std::string>& args,
                                                   const std::vector<std::string>& env = {}) {
    std::string dir = bgtest::temp_dir();
    bgtest::write_file(dir + "/policy.toml", policy_text);
    std::string script =
        "mkdir -p \"$1/upper\" \"$1/work\" || exit 97\n"
        "mount -t overlay overlay -o \"lowerdir=/etc,upperdir=$1/upper,workdir=$1/work\" /etc || exit 98\n"
        "mkdir -p /etc/bindguard && cp \"$1/policy.toml\" /etc/bindguard/policy.toml || exit 99\n"
        "shift; exec \"$@\"";
    std::vector<std::string> argv = {"unshare", "-m", "sh", "-c", script, "sh", dir, bgtest::cli_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return bgtest::run(argv, env);
}

}  // namespace clitest
