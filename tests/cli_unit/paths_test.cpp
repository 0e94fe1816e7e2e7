// absolute() (cli/lib/program_paths.cpp), the one maker of the policy paths bindguard hands
// on, and command_line() (cli/lib/command_line.cpp), the command line rules see.
#include <gtest/gtest.h>

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "command_line.hpp"
#include "program_paths.hpp"

namespace bindguard::cli {
namespace {

// Runs the test in a temporary directory (with a real symlink in it), removed at the end.
class Absolute : public testing::Test {
protected:
    void SetUp() override {
        char name[] = "/tmp/bg-cli-abs-XXXXXX";
        ASSERT_NE(::mkdtemp(name), nullptr);
        dir_ = std::filesystem::canonical(name).string();
        std::filesystem::create_directories(dir_ + "/real/sub");
        std::filesystem::create_directory_symlink(dir_ + "/real/sub", dir_ + "/link");
        old_ = std::filesystem::current_path();
        std::filesystem::current_path(dir_);
    }
    void TearDown() override {
        std::filesystem::current_path(old_);
        std::filesystem::remove_all(dir_);
    }

    std::string dir_;
    std::filesystem::path old_;
};

TEST_F(Absolute, ARelativePathIsMadeAbsoluteAgainstTheCurrentDirectory) {
    EXPECT_EQ(absolute("policy.toml"), dir_ + "/policy.toml");
    EXPECT_EQ(absolute("real/sub/p.toml"), dir_ + "/real/sub/p.toml");
}

TEST_F(Absolute, ItIsNormalisedLexically) {
    EXPECT_EQ(absolute("./real/./sub/../p.toml"), dir_ + "/real/p.toml");
    EXPECT_EQ(absolute("/etc//bindguard/./policy.toml"), "/etc/bindguard/policy.toml");
    EXPECT_EQ(absolute("/etc/bindguard/../bindguard/policy.toml"), "/etc/bindguard/policy.toml");
}

TEST_F(Absolute, SymlinksAreKeptNotResolved) {
    EXPECT_EQ(absolute("link/p.toml"), dir_ + "/link/p.toml");
    // Lexically, "link/.." is the directory itself, though the link points two levels down.
    EXPECT_EQ(absolute("link/../p.toml"), dir_ + "/p.toml");
}

TEST(CommandLine, ArgumentsJoinedBySingleSpacesUnquoted) {
    EXPECT_EQ(command_line({}), "");
    EXPECT_EQ(command_line({"node"}), "node");
    EXPECT_EQ(command_line({"node", "api/server.mjs", "--port", "4000"}), "node api/server.mjs --port 4000");
    EXPECT_EQ(command_line({"sh", "-c", "exec  a"}), "sh -c exec  a");
}

// The library turns the NULs of /proc/self/cmdline into spaces but drops the trailing
// ones: an empty argument gives a space, but not at the end.
TEST(CommandLine, EmptyArgumentsAsTheLibraryJoinsThem) {
    EXPECT_EQ(command_line({""}), "");
    EXPECT_EQ(command_line({"", "x"}), " x");
    EXPECT_EQ(command_line({"a", "", "b"}), "a  b");
    EXPECT_EQ(command_line({"a", "", ""}), "a");
    EXPECT_EQ(command_line({"a", "", " "}), "a   ");
}

}  // namespace
}  // namespace bindguard::cli
