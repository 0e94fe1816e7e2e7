// `cmake --install BUILD --prefix P`: P/bin/bindguard finds P/<libdir>/bindguard/libbindguard.so
// by itself, and the installed pair really keeps a bind on loopback.
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>

#include "cli_support.hpp"

namespace {

// realpath(3) as a string, or "" when path does not resolve.
std::string real(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? buf : "";
}

}  // namespace

TEST(CliInstall, InstalledCommandFindsItsLibrary) {
    std::string prefix = bgtest::temp_dir() + "/prefix";
    bgtest::Result install = bgtest::run({BG_CLI_CMAKE_COMMAND, "--install", BG_CLI_BINARY_DIR, "--prefix", prefix});
    ASSERT_EQ(install.status, 0) << install.out << install.err;
    std::string command = prefix + "/" + BG_CLI_INSTALL_BINDIR + "/bindguard";
    std::string library = prefix + "/" + BG_CLI_INSTALL_SHIM_DIR + "/libbindguard.so";
    ASSERT_TRUE(clitest::exists(command)) << command;
    ASSERT_TRUE(clitest::exists(library)) << library;

    bgtest::Result result = bgtest::run({command, "shim-path"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, real(library) + "\n");
    EXPECT_EQ(bgtest::run({command, "version"}).out, "bindguard 0.1.0\n");

    // Through a symlink to the command (as in /usr/local/bin -> /opt/...), too.
    std::string link = bgtest::temp_dir() + "/bindguard";
    ASSERT_EQ(::symlink(command.c_str(), link.c_str()), 0);
    EXPECT_EQ(bgtest::run({link, "shim-path"}, {"-BINDGUARD_SHIM"}).out, real(library) + "\n");

    // The installed pair at work, in a private network namespace.
    result = bgtest::run({"unshare", "-n", command, "run", "--", bgtest::helper_path(), "bind", "tcp", "0.0.0.0:0"},
                         clitest::preload_env());
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("local=127.0.0.1:"), std::string::npos) << result.out << result.err;
}
