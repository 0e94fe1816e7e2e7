// Unit names, quoting and the unit file reader of cli/lib/systemd_unit.cpp; the reader on
// real files under a temporary root.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

using Words = std::vector<std::string>;

// Each {input, expected output} of a function of one string.
struct Case {
    const char* input;
    const char* expected;
};

void expect_cases(std::string (*function)(const std::string&), const std::vector<Case>& cases) {
    for (const Case& c : cases) EXPECT_EQ(function(c.input), c.expected) << "for " << c.input;
}

TEST(ServiceOfUnit, DropsTheSuffixAndTheInstance) {
    expect_cases(service_of_unit, {{"nginx.service", "nginx"},
                                   {"postgresql@15-main.service", "postgresql"},
                                   {"app.socket", "app"},
                                   {"app@.service", "app"},
                                   {"node.api.service", "node.api"},
                                   {"plain", "plain"}});
}

TEST(ServiceOfCgroup, TheLastComponentOfAServiceOrSocketUnitElseKept) {
    for (const std::string unit : {"nginx.service", "postgresql@15-main.service", "app.socket"}) {
        EXPECT_EQ(service_of_cgroup("/sys/fs/cgroup/system.slice/" + unit), service_of_unit(unit));
        EXPECT_EQ(service_of_cgroup("/sys/fs/cgroup/system.slice/system-x.slice/" + unit), service_of_unit(unit));
    }
    EXPECT_EQ(service_of_cgroup("/sys/fs/cgroup/system.slice/nginx.service"), "nginx");
    for (const std::string other : {"user.slice", "my-group", "a@b", "session-1.scope"})
        EXPECT_EQ(service_of_cgroup("/sys/fs/cgroup/" + other), other);
}

TEST(ServiceUnitName, ABareNameIsAServiceANameWithASuffixIsKept) {
    for (const std::string bare : {"nginx", "postgresql@15-main", "node.api"})
        EXPECT_EQ(service_unit_name(bare), bare + ".service");
    for (const std::string kept : {"nginx.service", "app.socket", "backup.timer", "x.mount", "user.slice"})
        EXPECT_EQ(service_unit_name(kept), kept);
}

TEST(ExecQuoted, PlainWordsStayAsTheyAreOthersAreQuotedEscapedOrDoubled) {
    expect_cases(exec_quoted, {{"/usr/bin/bindguard", "/usr/bin/bindguard"},
                               {"--exec-condition", "--exec-condition"},
                               {"", "\"\""},
                               {"a b", "\"a b\""},
                               {"a\tb", "\"a\tb\""},
                               {"say \"hi\"", "\"say \\\"hi\\\"\""},
                               {"C:\\x", "\"C:\\\\x\""},
                               {"it's", "\"it's\""},
                               {"100%", "\"100%%\""},
                               {"$HOME", "\"$$HOME\""},
                               {"a;b", "\"a;b\""}});
}

TEST(ExecQuoted, SystemdsWordSplittingGivesTheWordBack) {
    // unit_words() splits as systemd does but leaves % and $ to systemd's specifier and
    // variable expansion, so the words here have neither.
    for (const std::string word : {"", "plain", "a b", "tab\there", "\"quoted\"", "back\\slash", "it's", "semi;colon",
                                   "api rule=proxy-web program=/usr/bin/caddy"}) {
        EXPECT_EQ(unit_words("cmd " + exec_quoted(word) + " end"), (Words{"cmd", word, "end"})) << word;
    }
}

TEST(UnitQuoted, AlwaysQuotedWithBackslashQuoteAndPercentEscaped) {
    expect_cases(unit_quoted, {{"LD_PRELOAD=/usr/lib/libbindguard.so", "\"LD_PRELOAD=/usr/lib/libbindguard.so\""},
                               {"BINDGUARD_SERVICE=a \"b\" \\c", "\"BINDGUARD_SERVICE=a \\\"b\\\" \\\\c\""},
                               {"X=50%", "\"X=50%%\""},
                               {"X=$Y", "\"X=$Y\""}});  // Environment= expands no variables
}

TEST(UnitWords, QuotesEscapesAndBlanks) {
    EXPECT_EQ(unit_words("  /usr/bin/node   server.mjs\t--port 4000 "),
              (Words{"/usr/bin/node", "server.mjs", "--port", "4000"}));
    EXPECT_EQ(unit_words("A=1 \"B=two words\" 'C=x y'"), (Words{"A=1", "B=two words", "C=x y"}));
    EXPECT_EQ(unit_words("a\\ b"), (Words{"a b"}));
    EXPECT_EQ(unit_words(""), Words{});
}

// A systemd tree under a temporary directory, removed at the end.
class UnitFiles : public testing::Test {
protected:
    void SetUp() override {
        char name[] = "/tmp/bg-cli-unit-XXXXXX";
        ASSERT_NE(::mkdtemp(name), nullptr);
        root_ = name;
    }
    void TearDown() override { std::filesystem::remove_all(root_); }

    // Writes ROOT/RELATIVE with text. Returns its path.
    std::string write(const std::string& relative, const std::string& text) {
        std::filesystem::path path = root_ + "/" + relative;
        std::filesystem::create_directories(path.parent_path());
        std::ofstream(path) << text;
        return path.string();
    }

    std::string root_;
};

TEST_F(UnitFiles, SettingsOfOneSectionWithContinuationLinesJoined) {
    std::string path = write("u.service",
                             "[Unit]\nDescription=not this\n# comment\n[Service]\n; another comment\n"
                             "ExecStart = /usr/bin/node\\\nserver.mjs\nEnvironment=A=1\n[Install]\nWantedBy=x\n");
    std::vector<UnitSetting> settings = unit_settings(path, "Service");
    ASSERT_EQ(settings.size(), 2u);
    EXPECT_EQ(settings[0].key, "ExecStart");
    EXPECT_EQ(settings[0].value, "/usr/bin/node server.mjs");
    EXPECT_EQ(settings[0].line, 6);
    EXPECT_EQ(settings[1].key, "Environment");
    EXPECT_EQ(settings[1].value, "A=1");
    EXPECT_EQ(settings[1].line, 8);
    EXPECT_TRUE(unit_settings(root_ + "/missing.service", "Service").empty());
}

TEST_F(UnitFiles, TheUnitAndItsDropInsInOrderOwnDropInOnlyWhenAsked) {
    write("lib/systemd/system/api.service",
          "[Service]\nExecStart=-/usr/bin/node /srv/api/server.mjs --port 4000\n"
          "Environment=\"LD_PRELOAD=/usr/lib/libjemalloc.so.2\" PORT=4000\nNoExecPaths=/\n");
    write("etc/systemd/system/api.service.d/10-env.conf", "[Service]\nEnvironment=HOST=0.0.0.0\n");
    write("etc/systemd/system/api.service.d/bindguard.conf", "[Service]\nEnvironment=BINDGUARD_SERVICE=api\n");
    ServiceUnit unit = read_service_unit("api.service", root_, false);
    EXPECT_EQ(unit.name, "api.service");
    EXPECT_EQ(unit.source, root_ + "/lib/systemd/system/api.service");
    EXPECT_EQ(unit.program, "/usr/bin/node");
    EXPECT_EQ(unit.command, "/usr/bin/node /srv/api/server.mjs --port 4000");
    EXPECT_EQ(unit.ld_preload, "/usr/lib/libjemalloc.so.2");
    EXPECT_EQ(unit.environment.at("PORT"), "4000");
    EXPECT_EQ(unit.environment.at("HOST"), "0.0.0.0");
    EXPECT_EQ(unit.environment.count("BINDGUARD_SERVICE"), 0u);
    EXPECT_TRUE(unit.no_exec_paths);
    EXPECT_EQ(read_service_unit("api.service", root_, false, true).environment.at("BINDGUARD_SERVICE"), "api");
}

TEST_F(UnitFiles, AnInstanceReadsItsTemplateAndAResetExecStartTakesTheNextOne) {
    write("lib/systemd/system/worker@.service", "[Service]\nExecStart=/usr/bin/old %i\n");
    write("etc/systemd/system/worker@.service.d/override.conf", "[Service]\nExecStart=\nExecStart=@/usr/bin/new new-name %i\n");
    ServiceUnit unit = read_service_unit("worker@7.service", root_, false);
    EXPECT_EQ(unit.program, "/usr/bin/new");
    EXPECT_EQ(unit.command, "new-name %i");  // with '@' the program is not argv[0]
}

TEST_F(UnitFiles, AMissingUnitOrExecStartIsAnError) {
    EXPECT_THROW(read_service_unit("nothing.service", root_, false), std::runtime_error);
    write("etc/systemd/system/empty.service", "[Service]\nType=oneshot\n");
    EXPECT_THROW(read_service_unit("empty.service", root_, false), std::runtime_error);
}

}  // namespace
}  // namespace bindguard::cli
