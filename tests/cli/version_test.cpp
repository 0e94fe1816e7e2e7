// `bindguard version`, `--version`, `shim-path` and the usage rules common to every command.
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>

#include "cli_support.hpp"

using clitest::bindguard;

TEST(CliVersion, PrintsNameAndProjectVersion) {
    bgtest::Result result = bindguard({"version"});
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.out, "bindguard 0.1.0\n");
    EXPECT_EQ(result.err, "");
    EXPECT_EQ(bindguard({"--version"}).out, "bindguard 0.1.0\n");
}

TEST(CliUsage, NoSubcommandPrintsUsageAndExits2) {
    bgtest::Result result = bindguard({});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("Usage: bindguard"), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "");
}

TEST(CliUsage, UnknownSubcommandOrOptionExits2NamingIt) {
    bgtest::Result result = bindguard({"frobnicate"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("frobnicate"), std::string::npos) << result.err;
    result = bindguard({"explain", "--bogus", "0.0.0.0:1"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("--bogus"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("Usage: bindguard explain"), std::string::npos) << result.err;
}

TEST(CliUsage, EveryCommandHasHelp) {
    for (const char* command : {"run", "check", "explain", "audit", "protect", "unprotect", "shim-path", "version"}) {
        bgtest::Result result = bindguard({command, "--help"});
        EXPECT_EQ(result.status, 0) << command;
        EXPECT_NE(result.out.find(std::string("Usage: bindguard ") + command), std::string::npos)
            << command << ":\n" << result.out;
    }
}

TEST(CliShimPath, PrintsTheBuiltLibraryAsAnExistingAbsolutePath) {
    bgtest::Result result = bindguard({"shim-path"}, {"-BINDGUARD_SHIM"});
    ASSERT_EQ(result.status, 0) << result.err;
    ASSERT_FALSE(result.out.empty());
    std::string printed = result.out.substr(0, result.out.size() - 1);
    EXPECT_EQ(result.out.back(), '\n');
    EXPECT_EQ(printed.front(), '/');
    EXPECT_TRUE(clitest::exists(printed)) << printed;
    char expected[PATH_MAX];
    ASSERT_NE(::realpath(bgtest::shim_path().c_str(), expected), nullptr) << bgtest::shim_path();
    EXPECT_EQ(printed, expected);
}

TEST(CliShimPath, EnvironmentOverrideIsCanonicalised) {
    std::string dir = bgtest::temp_dir();
    bgtest::write_file(dir + "/libother.so", "not really a library");
    bgtest::Result result = bindguard({"shim-path"}, {"BINDGUARD_SHIM=" + dir + "/./libother.so"});
    EXPECT_EQ(result.status, 0) << result.err;
    char expected[PATH_MAX];
    ASSERT_NE(::realpath((dir + "/libother.so").c_str(), expected), nullptr);
    EXPECT_EQ(result.out, std::string(expected) + "\n");
}

TEST(CliShimPath, MissingLibraryExits1WithMessage) {
    bgtest::Result result = bindguard({"shim-path"}, {"BINDGUARD_SHIM=/nonexistent/libbindguard.so"});
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("/nonexistent/libbindguard.so"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("BINDGUARD_SHIM"), std::string::npos) << result.err;
}

TEST(CliUsage, TopLevelHelpListsEachCommandOnOneLine) {
    const std::vector<std::string> commands = {"run",     "compile",   "check",  "explain",   "audit",  "compose-check",
                                               "docker",  "protect",   "unprotect", "kernel", "shim-path", "version"};
    bgtest::Result result = bindguard({"--help"});
    EXPECT_EQ(result.status, 0);
    std::vector<std::string> out = clitest::lines(result.out);
    auto start = std::find(out.begin(), out.end(), "Subcommands:");
    ASSERT_NE(start, out.end()) << result.out;
    std::vector<std::string> listed(start + 1, out.end());
    while (!listed.empty() && (listed.back().empty() || !listed.back().starts_with("  "))) listed.pop_back();
    ASSERT_GE(listed.size(), commands.size()) << result.out;
    // Every line of the list names a command: no continuation lines.
    for (const std::string& line : listed) {
        std::string name = line.substr(2, line.find(' ', 2) - 2);
        EXPECT_NE(std::find(commands.begin(), commands.end(), name), commands.end()) << "not a command line: " << line;
        EXPECT_LE(line.size(), 120u) << line;
    }
    EXPECT_NE(result.out.find("bindguard COMMAND --help"), std::string::npos) << result.out;
    // The paragraphs stay in each command's own help.
    bgtest::Result run_help = bindguard({"run", "--help"});
    EXPECT_NE(run_help.out.find("set-uid"), std::string::npos) << run_help.out;
    EXPECT_EQ(result.out.find("set-uid"), std::string::npos) << result.out;
    EXPECT_EQ(run_help.out.find("bindguard COMMAND --help"), std::string::npos) << run_help.out;
}
