#include "shim_test_util.hpp"

#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace shimtest {

std::vector<std::string> log_lines(const std::string& text) {
    std::vector<std::string> out;
    for (const auto& line : lines(text))
        if (line.rfind("bindguard[", 0) == 0 || line.rfind("{\"ts\":", 0) == 0) out.push_back(line);
    return out;
}

std::vector<std::string> shim_env(const std::string& policy_path, const std::vector<std::string>& extra) {
    std::vector<std::string> env = bgtest::shim_env();
    env.push_back("BINDGUARD_POLICY=" + policy_path);
    env.push_back("-BINDGUARD_SERVICE");
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

bgtest::Result helper(const std::vector<std::string>& args, const std::string& policy_path,
                      const std::vector<std::string>& extra_env) {
    std::vector<std::string> argv{bgtest::helper_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return bgtest::run(argv, shim_env(policy_path, extra_env));
}

bgtest::Result helper_plain(const std::vector<std::string>& args) {
    std::vector<std::string> argv{bgtest::helper_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return bgtest::run(argv, {"-LD_PRELOAD", "-BINDGUARD_POLICY"});
}

bgtest::Result in_netns(const std::string& script, const std::string& policy_path) {
    std::string assignments;
    for (const auto& entry : shim_env(policy_path))
        if (entry[0] != '-') assignments += (assignments.empty() ? "" : " ") + entry;
    return bgtest::run({"unshare", "-n", "sh", "-c", "ip link set lo up && " + script},
                       {"SHIM_ENV=" + assignments, "HELPER=" + bgtest::helper_path(), "-LD_PRELOAD"});
}

void PrivateNetns::SetUp() {
    // A failure here ends the program (exit 1) instead of an ASSERT: GoogleTest would
    // report every test as skipped after a failed environment, and CTest count it so.
    std::string error;
    if (::unshare(CLONE_NEWNET) != 0) {
        error = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) +
                " (these tests run in a private network namespace: they need root)";
    } else if (bgtest::Result up = bgtest::run({"ip", "link", "set", "lo", "up"}, {"-LD_PRELOAD"}); up.status != 0) {
        error = "ip link set lo up: " + up.err;
    } else if (!bgtest::sockets().empty()) {
        error = "the new network namespace is not empty";
    }
    if (error.empty()) return;
    std::fprintf(stderr, "FAILED: cannot run the tests in a private network namespace: %s\n", error.c_str());
    std::exit(1);
}

Fields result_of(const bgtest::Result& result) {
    for (const auto& line : lines(result.out))
        if (line.rfind("ret=", 0) == 0 || line.rfind("locals=", 0) == 0 || line.rfind("copyfd=", 0) == 0)
            return fields(line);
    return {};
}

}  // namespace shimtest
