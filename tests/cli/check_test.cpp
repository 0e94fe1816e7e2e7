// `bindguard check FILE...`: real policy files, real exit statuses, exact output lines.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sys/stat.h>

#include "cli_support.hpp"

using clitest::bindguard;

namespace {

// Every policy shipped under examples/ (examples/policy/*.toml and examples/**/policy.toml).
std::vector<std::string> example_policies() {
    std::vector<std::string> files;
    std::filesystem::path examples = std::filesystem::path(bgtest::source_dir()) / "examples";
    for (auto it = std::filesystem::recursive_directory_iterator(examples);
         it != std::filesystem::recursive_directory_iterator(); ++it) {
        if (it->path().filename() == "node_modules") {
            it.disable_recursion_pending();
            continue;
        }
        if (it->path().extension() == ".toml") files.push_back(it->path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

TEST(CliCheck, EveryExamplePolicyIsValid) {
    std::vector<std::string> files = example_policies();
    ASSERT_GE(files.size(), 1u);
    std::vector<std::string> args = {"check"};
    args.insert(args.end(), files.begin(), files.end());
    bgtest::Result result = bindguard(args);
    EXPECT_EQ(result.status, 0) << result.err;
    std::vector<std::string> out = clitest::lines(result.out);
    ASSERT_EQ(out.size(), files.size()) << result.out;
    for (std::size_t i = 0; i < files.size(); ++i)
        EXPECT_TRUE(std::regex_match(out[i], std::regex(std::regex_replace(files[i], std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                                                        R"(: ok \(\d+ rules\))")))
            << out[i];
}

TEST(CliCheck, DefaultPolicyHasNoRules) {
    std::string file = bgtest::source_dir() + "/examples/policy/default.toml";
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.out, file + ": ok (0 rules)\n");
    EXPECT_EQ(result.err, "");
}

TEST(CliCheck, CountsRules) {
    std::string file = clitest::temp_file("two.toml",
                                          "version = 1\n"
                                          "[[rule]]\nname = \"a\"\naction = \"allow\"\nport = [80]\n"
                                          "[[rule]]\nname = \"b\"\naction = \"deny\"\nport = [443]\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, file + ": ok (2 rules)\n");
}

TEST(CliCheck, TypoedKeyExits1WithLineAndColumn) {
    std::string file = clitest::temp_file("typo.toml", "version = 1\n[default]\nacton = \"rewrite\"\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, "");
    std::vector<std::string> err = clitest::lines(result.err);
    ASSERT_EQ(err.size(), 1u) << result.err;
    EXPECT_TRUE(err[0].starts_with(file + ":3:1: error: ")) << err[0];
    EXPECT_NE(err[0].find("\"acton\""), std::string::npos) << err[0];
}

TEST(CliCheck, OneLinePerProblem) {
    std::string file = clitest::temp_file("two-problems.toml",
                                          "version = 1\nmode = \"loud\"\n[log]\nlevl = \"info\"\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 1);
    std::vector<std::string> err = clitest::lines(result.err);
    ASSERT_EQ(err.size(), 2u) << result.err;
    EXPECT_TRUE(err[0].starts_with(file + ":2:")) << err[0];
    EXPECT_TRUE(err[1].starts_with(file + ":4:")) << err[1];
    for (const std::string& line : err) EXPECT_NE(line.find(": error: "), std::string::npos) << line;
}

TEST(CliCheck, WarningsKeepTheFileValid) {
    std::string file = clitest::temp_file("shadowed.toml",
                                          "version = 1\n"
                                          "[[rule]]\nname = \"all\"\naction = \"allow\"\n"
                                          "[[rule]]\nname = \"web\"\naction = \"deny\"\nport = [80]\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.out, file + ": ok (2 rules)\n");
    EXPECT_TRUE(result.err.starts_with(file + ":5:")) << result.err;
    EXPECT_NE(result.err.find(": warning: "), std::string::npos) << result.err;
}

TEST(CliCheck, SeveralFilesReportEachAndFailIfAnyFails) {
    std::string good = bgtest::source_dir() + "/examples/policy/default.toml";
    std::string bad = clitest::temp_file("bad.toml", "version = 2\n");
    bgtest::Result result = bindguard({"check", bad, good});
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, good + ": ok (0 rules)\n");  // checked after the failure too
    EXPECT_TRUE(result.err.starts_with(bad + ":1:")) << result.err;
    EXPECT_NE(result.err.find(": error: "), std::string::npos) << result.err;
}

TEST(CliCheck, MissingFileIsAnErrorAtLine1) {
    bgtest::Result result = bindguard({"check", "/nonexistent/policy.toml"});
    EXPECT_EQ(result.status, 1);
    EXPECT_TRUE(result.err.starts_with("/nonexistent/policy.toml:1:1: error: ")) << result.err;
}

TEST(CliCheck, NoFilesIsAUsageError) {
    bgtest::Result result = bindguard({"check"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("FILE"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("Usage: bindguard check"), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "");
}

TEST(CliCheck, WarnsWhenARulesProgramIsASymlink) {
    // As Debian's /usr/bin/redis-server -> redis-check-rdb: a real symlink to a real program.
    std::string dir = bgtest::temp_dir();
    std::string target = dir + "/redis-check-rdb";
    bgtest::write_file(target, "");
    std::string link = dir + "/redis-server";
    ASSERT_EQ(::symlink("redis-check-rdb", link.c_str()), 0);
    std::string file = clitest::temp_file("redis.toml",
                                          "version = 1\n"
                                          "[[rule]]\nname = \"glob\"\naction = \"allow\"\nprogram = \"" + dir + "/redis-*\"\nport = [1]\n"
                                          "[[rule]]\nname = \"resolved\"\naction = \"allow\"\nprogram = \"" + target + "\"\nport = [2]\n"
                                          "[[rule]]\nname = \"redis\"\naction = \"allow\"\nprogram = \"" + link + "\"\nport = [6379]\n"
                                          "[[rule]]\nname = \"missing\"\naction = \"allow\"\nprogram = \"/nonexistent/x\"\nport = [3]\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 0) << result.err;  // a warning: still valid
    EXPECT_EQ(result.out, file + ": ok (4 rules)\n");
    std::vector<std::string> err = clitest::lines(result.err);
    ASSERT_EQ(err.size(), 1u) << result.err;  // only the literal symlink
    EXPECT_TRUE(err[0].starts_with(file + ":12:1: warning: [[rule]] \"redis\": program \"" + link + "\" resolves to \"" +
                                   target + "\""))
        << err[0];
    EXPECT_NE(err[0].find("use program = \"" + target + "\""), std::string::npos) << err[0];

    // explain prints it too; the library itself never does (it decides on the resolved path).
    bgtest::Result explained = bindguard({"explain", "--policy", file, "--program", target, "0.0.0.0:6379"});
    EXPECT_EQ(explained.status, 0) << explained.err;
    EXPECT_NE(explained.err.find("warning: [[rule]] \"redis\""), std::string::npos) << explained.err;
    EXPECT_EQ(explained.out, "rewrite tcp 0.0.0.0:6379 -> 127.0.0.1:6379 (rule default)\n");
}

namespace {

TEST(CliCheck, HostBitsAreAWarning) {
    std::string file = clitest::temp_file("hostbits.toml",
                                          "version = 1\n"
                                          "[[rule]]\nname = \"lan\"\naction = \"allow\"\naddress = [\"10.1.2.3/8\"]\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.out, file + ": ok (1 rules)\n");
    EXPECT_TRUE(result.err.starts_with(file + ":")) << result.err;
    EXPECT_NE(result.err.find(": warning: "), std::string::npos) << result.err;
}

// A FIFO as log.path would hang every process at start: check refuses it.
TEST(CliCheck, LogPathThatIsAFifoIsAnError) {
    const std::string dir = bgtest::temp_dir();
    const std::string fifo = dir + "/log.fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    std::string file = clitest::temp_file("fifo.toml", "version = 1\n[log]\nto = \"file\"\npath = \"" + fifo + "\"\n");
    bgtest::Result result = bindguard({"check", file});
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(result.err, file + ": error: log.path \"" + fifo +
                              "\" is a FIFO, not a regular file: the library would refuse it and log to stderr\n");
    // A regular file, or one not there yet (the library creates it), is fine.
    std::string regular = clitest::temp_file(
        "regular.toml", "version = 1\n[log]\nto = \"file\"\npath = \"" + dir + "/new.log\"\n");
    EXPECT_EQ(bindguard({"check", regular}).status, 0);
}

}  // namespace
