// `bindguard compile`, and the compiled images as the library finds them: beside the
// policy, or in the user's cache when the policy's directory is not the user's; `check`
// warns about a stale image; `run` compiles what it needs.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "bindguard/compile.hpp"
#include "cli_support.hpp"

namespace {

using clitest::bindguard;

const char kPolicy[] = "version = 1\n[[rule]]\nname = \"ssh\"\naction = \"deny\"\nport = [2222]\n";

// The library's answer to a bind of address, in a private network namespace, with
// BINDGUARD_POLICY=policy, as user (empty: root).
bgtest::Result bind_with(const std::string& policy, const std::string& address, const std::string& user = "",
                         const std::string& home = "") {
    std::string script = "ip link set lo up || exit 90\nexec ";
    if (!user.empty()) script += "setpriv --reuid=" + user + " --regid=" + user + " --clear-groups ";
    script += "env LD_PRELOAD=\"$1\" BINDGUARD_POLICY=\"$2\" HOME=\"$3\" \"$0\" bind tcp " + address;
    return bgtest::run({"unshare", "-n", "sh", "-c", script, bgtest::helper_path(), bgtest::preload_value(), policy,
                        home.empty() ? "/nonexistent" : home},
                       clitest::preload_env());
}

TEST(CliCompile, WritesTheImageBesideThePolicyAndTheLibraryUsesIt) {
    const std::string file = clitest::temp_file("policy.toml", kPolicy);
    bgtest::Result result = bindguard({"compile", file});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, file + ": compiled -> " + file + ".compiled\n");
    EXPECT_TRUE(clitest::exists(file + ".compiled"));
    struct stat st {};
    ASSERT_EQ(stat((file + ".compiled").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);

    EXPECT_NE(bind_with(file, "0.0.0.0:2222").out.find("errno=13"), std::string::npos);
    EXPECT_NE(bind_with(file, "0.0.0.0:2223").out.find("local=127.0.0.1:2223"), std::string::npos);
    // check says nothing of a fresh image.
    result = bindguard({"check", file});
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.err, "");
}

TEST(CliCompile, AnInvalidPolicyGetsNoImageAndItsErrors) {
    const std::string file = clitest::temp_file("bad.toml", "version = 1\n[default]\naction = \"open\"\n");
    bgtest::Result result = bindguard({"compile", file});
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find(file + ":3:10: error:"), std::string::npos) << result.err;
    EXPECT_FALSE(clitest::exists(file + ".compiled"));
    // The library finds none: it fails closed, and says how to mend it.
    const bgtest::Result bound = bind_with(file, "0.0.0.0:2223");
    EXPECT_NE(bound.out.find("errno=13"), std::string::npos) << bound.out << bound.err;
    EXPECT_NE(bound.err.find("the policy is not compiled"), std::string::npos) << bound.err;
    EXPECT_NE(bound.err.find("bindguard compile " + file), std::string::npos) << bound.err;
}

TEST(CliCompile, CheckWarnsAboutAStaleImageAndCompileMendsIt) {
    const std::string file = clitest::temp_file("policy.toml", kPolicy);
    ASSERT_EQ(bindguard({"compile", file}).status, 0);
    bgtest::write_file(file, std::string(kPolicy) + "# edited\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.out, file + ": ok (1 rules)\n");
    EXPECT_NE(result.err.find(file + ":1:1: warning: its compiled image " + file + ".compiled is stale"),
              std::string::npos)
        << result.err;
    const bgtest::Result stale = bind_with(file, "0.0.0.0:2223");
    EXPECT_NE(stale.out.find("errno=13"), std::string::npos) << stale.out;
    EXPECT_NE(stale.err.find("is stale"), std::string::npos) << stale.err;
    ASSERT_EQ(bindguard({"compile", file}).status, 0);
    EXPECT_NE(bind_with(file, "0.0.0.0:2223").out.find("local=127.0.0.1:2223"), std::string::npos);
}

// A user who cannot write the policy's directory: the image goes to their cache, and
// their processes find it there (a root-owned 0755 directory, the user nobody).
TEST(CliCompile, AnOrdinaryUserCompilesIntoTheirCache) {
    const std::string dir = bgtest::temp_dir();
    ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
    const std::string file = dir + "/policy.toml";
    bgtest::write_file(file, kPolicy);
    ASSERT_EQ(chmod(file.c_str(), 0644), 0);
    const std::string home = bgtest::temp_dir();
    ASSERT_EQ(chown(home.c_str(), 65534, 65534), 0);
    bgtest::Result result = bgtest::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                                         "-u", "XDG_CACHE_HOME", "HOME=" + home, bgtest::cli_path(), "compile", file});
    ASSERT_EQ(result.status, 0) << result.err;
    const std::string cached = home + "/.cache/bindguard/" + bindguard::image::cache_key(file);
    EXPECT_EQ(result.out, file + ": compiled -> " + cached + "\n");
    EXPECT_FALSE(clitest::exists(file + ".compiled"));
    EXPECT_NE(bind_with(file, "0.0.0.0:2223", "65534", home).out.find("local=127.0.0.1:2223"), std::string::npos);
    EXPECT_NE(bind_with(file, "0.0.0.0:2222", "65534", home).out.find("errno=13"), std::string::npos);
    // Another user (root here, with another HOME) does not read that cache: not compiled for it.
    EXPECT_NE(bind_with(file, "0.0.0.0:2223").err.find("not compiled"), std::string::npos);
    std::filesystem::remove_all(home);
}

TEST(CliCompile, RunCompilesThePolicyItIsGiven) {
    const std::string file = clitest::temp_file("policy.toml", kPolicy);
    bgtest::Result result = bgtest::run({"unshare", "-n", "sh", "-c", "ip link set lo up; exec \"$@\"", "sh",
                                         bgtest::cli_path(), "run", "--policy", file, "--", bgtest::helper_path(),
                                         "bind", "tcp", "0.0.0.0:2223"},
                                        clitest::preload_env());
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.err.find("bindguard: compiled " + file + " -> " + file + ".compiled"), std::string::npos)
        << result.err;
    EXPECT_NE(result.out.find("local=127.0.0.1:2223"), std::string::npos) << result.out;
    // Fresh now: nothing to compile the second time.
    result = bgtest::run({"unshare", "-n", "sh", "-c", "ip link set lo up; exec \"$@\"", "sh", bgtest::cli_path(), "run",
                          "--policy", file, "--", bgtest::helper_path(), "bind", "tcp", "0.0.0.0:2223"},
                         clitest::preload_env());
    EXPECT_EQ(result.err.find("compiled"), std::string::npos) << result.err;
}

}  // namespace
