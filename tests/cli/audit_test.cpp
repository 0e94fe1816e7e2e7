// `bindguard audit`: real listeners in a private network namespace (so that nothing is
// ever exposed on the host and the namespace holds only the test's sockets), with and
// without the library, judged from the real /proc.
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bindguard/compile.hpp"

#include "cli_support.hpp"

namespace {

struct AuditRun {
    int status = -1;         // bindguard audit's exit status
    std::string out, err;    // its output
    std::vector<std::string> pids;  // of the background programs, in order
    std::string setup_err;   // what the script itself printed on stderr
};

// Quotes text for sh. Returns 'text' with inner quotes escaped.
std::string quoted(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// In a new network namespace (lo up): starts each program in the background, waits for
// its first line of output (bg-bindtest prints its result, then holds the socket), runs
// `bindguard audit audit_args` (as audit_user when not empty), then stops the programs.
// extra_env is added to the environment of all of them. Returns what audit did.
AuditRun audit_in_netns(const std::vector<std::vector<std::string>>& programs, const std::vector<std::string>& audit_args,
                        const std::string& audit_user = "", const std::vector<std::string>& extra_env = {}) {
    std::string dir = bgtest::temp_dir();
    std::string script = "ip link set lo up || exit 90\n";
    for (std::size_t i = 0; i < programs.size(); ++i) {
        std::string command;
        for (const std::string& arg : programs[i]) command += quoted(arg) + " ";
        std::string out = quoted(dir + "/prog" + std::to_string(i) + ".out");
        script += command + "> " + out + " 2>> " + quoted(dir + "/setup.err") + " &\n";
        script += "echo $! >> " + quoted(dir + "/pids") + "\n";
        script += "n=0; until [ -s " + out + " ]; do n=$((n+1)); [ $n -gt 400 ] && exit 91; sleep 0.05; done\n";
    }
    std::string audit = quoted(bgtest::cli_path()) + " audit";
    for (const std::string& arg : audit_args) audit += " " + quoted(arg);
    if (!audit_user.empty()) audit = "setpriv --reuid=" + audit_user + " --regid=nogroup --clear-groups " + audit;
    script += audit + " > " + quoted(dir + "/audit.out") + " 2> " + quoted(dir + "/audit.err") + "\n";
    script += "status=$?\nkill $(cat " + quoted(dir + "/pids") + " 2>/dev/null) 2>/dev/null\nwait\nexit $status\n";
    std::vector<std::string> env = clitest::preload_env();
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    bgtest::Result result = bgtest::run({"unshare", "-n", "sh", "-c", script}, env);
    AuditRun run;
    run.status = result.status;
    run.out = bgtest::read_file(dir + "/audit.out");
    run.err = bgtest::read_file(dir + "/audit.err") + result.err;
    run.setup_err = bgtest::read_file(dir + "/setup.err");
    run.pids = clitest::lines(bgtest::read_file(dir + "/pids"));
    return run;
}

// bg-bindtest holding one socket: {helper, "bind", proto, address, ("listen"), "hold"}.
std::vector<std::string> holder(const std::string& proto, const std::string& address) {
    std::vector<std::string> argv = {bgtest::helper_path(), "bind", proto, address};
    if (proto == "tcp") argv.push_back("listen");
    argv.push_back("hold");
    return argv;
}

// The same under `bindguard run [options] --`.
std::vector<std::string> protected_holder(const std::string& proto, const std::string& address,
                                          const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv = {bgtest::cli_path(), "run"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back("--");
    for (const std::string& arg : holder(proto, address)) argv.push_back(arg);
    return argv;
}

// The resolved path of the helper, as /proc/PID/exe shows it.
std::string helper_real_path() {
    char buf[PATH_MAX];
    return ::realpath(bgtest::helper_path().c_str(), buf) ? buf : bgtest::helper_path();
}

// The table rows (without header and summary) split into their columns; the last
// column (verdict) keeps its spaces.
std::vector<std::vector<std::string>> table_rows(const std::string& out) {
    std::vector<std::string> text = clitest::lines(out);
    std::vector<std::vector<std::string>> rows;
    for (std::size_t i = 1; i + 1 < text.size(); ++i) {
        std::istringstream in(text[i]);
        std::vector<std::string> columns(4);
        for (std::string& column : columns) in >> column;
        std::string verdict;
        std::getline(in >> std::ws, verdict);
        columns.push_back(verdict);
        rows.push_back(columns);
    }
    return rows;
}

// The JSON document, parsed; fails the test when it does not parse.
nlohmann::json parsed(const AuditRun& run) {
    nlohmann::json document = nlohmann::json::parse(run.out, nullptr, false);
    EXPECT_FALSE(document.is_discarded()) << run.out;
    return document;
}

}  // namespace

TEST(CliAudit, EmptyNamespaceHasNothingExposed) {
    AuditRun run = audit_in_netns({}, {});
    EXPECT_EQ(run.status, 0) << run.err;
    std::vector<std::string> lines = clitest::lines(run.out);
    ASSERT_EQ(lines.size(), 2u) << run.out;
    EXPECT_TRUE(lines[0].starts_with("Proto")) << lines[0];
    EXPECT_EQ(lines[1], "0 sockets, 0 exposed (0 unprotected)");
}

TEST(CliAudit, LoopbackListenerWithoutLibraryIsOk) {
    AuditRun run = audit_in_netns({holder("tcp", "127.0.0.1:8080")}, {});
    EXPECT_EQ(run.status, 0) << run.err << run.setup_err;
    auto rows = table_rows(run.out);
    ASSERT_EQ(rows.size(), 1u) << run.out;
    EXPECT_EQ(rows[0][0], "tcp");
    EXPECT_EQ(rows[0][1], "127.0.0.1:8080");
    ASSERT_EQ(run.pids.size(), 1u);
    EXPECT_EQ(rows[0][2], run.pids[0] + "/bg-bindtest");
    EXPECT_EQ(rows[0][3], "no");
    EXPECT_EQ(rows[0][4], "ok");
}

TEST(CliAudit, WildcardListenerWithoutLibraryIsExposedAndUnprotected) {
    AuditRun run = audit_in_netns({holder("tcp", "0.0.0.0:8080"), holder("tcp", "[::]:8081")}, {});
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;
    auto rows = table_rows(run.out);
    ASSERT_EQ(rows.size(), 2u) << run.out;
    EXPECT_EQ(rows[0][1], "0.0.0.0:8080");
    EXPECT_EQ(rows[0][3], "no");
    EXPECT_EQ(rows[0][4], "exposed unprotected");
    EXPECT_EQ(rows[1][1], "[::]:8081");
    EXPECT_EQ(rows[1][4], "exposed unprotected");
    EXPECT_EQ(clitest::lines(run.out).back(), "2 sockets, 2 exposed (2 unprotected)");
}

TEST(CliAudit, ListenerUnderBindguardRunIsOnLoopbackAndProtected) {
    AuditRun run = audit_in_netns({protected_holder("tcp", "0.0.0.0:8080"), protected_holder("tcp", "[::]:8081")}, {});
    EXPECT_EQ(run.status, 0) << run.err << run.setup_err;
    auto rows = table_rows(run.out);
    ASSERT_EQ(rows.size(), 2u) << run.out;
    EXPECT_EQ(rows[0][1], "127.0.0.1:8080");
    EXPECT_EQ(rows[1][1], "[::ffff:127.0.0.1]:8081");
    ASSERT_EQ(run.pids.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(rows[i][2], run.pids[i] + "/bg-bindtest");  // exec kept the pid
        EXPECT_EQ(rows[i][3], "yes");
        EXPECT_EQ(rows[i][4], "ok");
    }
}

TEST(CliAudit, AllowRuleMakesItAllowed) {
    std::string policy = clitest::temp_file("allow.toml",
                                            "version = 1\n"
                                            "[[rule]]\n"
                                            "name = \"public-helper\"\n"
                                            "action = \"allow\"\n"
                                            "program = \"" + helper_real_path() + "\"\n"
                                            "port = [8080]\n"
                                            "protocol = \"tcp\"\n");
    // The library lets the rule through, so the socket really is on 0.0.0.0 - inside the
    // namespace; a second, unmatched port of the same program is still exposed.
    AuditRun run = audit_in_netns({protected_holder("tcp", "0.0.0.0:8080", {"--policy", policy}), holder("tcp", "0.0.0.0:8090")},
                                  {"--policy", policy});
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;
    auto rows = table_rows(run.out);
    ASSERT_EQ(rows.size(), 2u) << run.out;
    EXPECT_EQ(rows[0][1], "0.0.0.0:8080");
    EXPECT_EQ(rows[0][3], "yes");
    EXPECT_EQ(rows[0][4], "allowed (rule public-helper)");
    EXPECT_EQ(rows[1][1], "0.0.0.0:8090");
    EXPECT_EQ(rows[1][4], "exposed unprotected");

    // Alone, the allowed socket leaves nothing exposed.
    run = audit_in_netns({protected_holder("tcp", "0.0.0.0:8080", {"--policy", policy})}, {"--policy", policy});
    EXPECT_EQ(run.status, 0) << run.out << run.err;
}

TEST(CliAudit, ServiceRuleUsesTheProcessEnvironment) {
    std::string policy = clitest::temp_file("service.toml",
                                            "version = 1\n"
                                            "[[rule]]\nname = \"public-api\"\naction = \"allow\"\nservice = \"api\"\n");
    AuditRun run = audit_in_netns({protected_holder("tcp", "0.0.0.0:4000", {"--policy", policy, "--service", "api"}),
                                   protected_holder("tcp", "0.0.0.0:4001", {"--policy", policy, "--service", "web"})},
                                  {"--policy", policy, "--json"});
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 2u) << run.out;
    EXPECT_EQ(document["sockets"][0]["local"], "0.0.0.0:4000");
    EXPECT_EQ(document["sockets"][0]["service"], "api");
    EXPECT_EQ(document["sockets"][0]["verdict"], "allowed");
    EXPECT_EQ(document["sockets"][1]["local"], "127.0.0.1:4001");  // web: rewritten by the library
    EXPECT_EQ(document["sockets"][1]["service"], "web");
    EXPECT_EQ(document["sockets"][1]["verdict"], "ok");
    EXPECT_EQ(run.status, 0);
}

TEST(CliAudit, JsonDocument) {
    AuditRun run = audit_in_netns({holder("tcp", "0.0.0.0:8080"), protected_holder("tcp", "0.0.0.0:8081"), holder("udp", "0.0.0.0:5353")},
                                  {"--json"});
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;
    nlohmann::json document = parsed(run);
    ASSERT_TRUE(document.is_object());
    EXPECT_EQ(document["exposed"], 2);
    EXPECT_EQ(document["unprotected"], 2);
    EXPECT_EQ(document["policy"], "<built-in>");
    const nlohmann::json& sockets = document["sockets"];
    ASSERT_TRUE(sockets.is_array());
    ASSERT_EQ(sockets.size(), 3u) << run.out;
    ASSERT_EQ(run.pids.size(), 3u);

    EXPECT_EQ(sockets[0]["proto"], "tcp");
    EXPECT_EQ(sockets[0]["local"], "0.0.0.0:8080");
    EXPECT_EQ(sockets[0]["address"], "0.0.0.0");
    EXPECT_EQ(sockets[0]["port"], 8080);
    EXPECT_EQ(sockets[0]["pid"], std::stoi(run.pids[0]));
    EXPECT_EQ(sockets[0]["program"], helper_real_path());
    EXPECT_EQ(sockets[0]["protected"], false);
    EXPECT_EQ(sockets[0]["verdict"], "exposed");
    EXPECT_EQ(sockets[0]["unprotected"], true);
    EXPECT_EQ(sockets[0]["rule"], "default");

    EXPECT_EQ(sockets[1]["local"], "127.0.0.1:8081");
    EXPECT_EQ(sockets[1]["pid"], std::stoi(run.pids[1]));
    EXPECT_EQ(sockets[1]["protected"], true);
    EXPECT_EQ(sockets[1]["verdict"], "ok");
    EXPECT_EQ(sockets[1]["unprotected"], false);

    EXPECT_EQ(sockets[2]["proto"], "udp");
    EXPECT_EQ(sockets[2]["local"], "0.0.0.0:5353");
    EXPECT_EQ(sockets[2]["verdict"], "exposed");
    EXPECT_EQ(sockets[2]["unprotected"], true);
}

TEST(CliAudit, UdpClientSocketIsNotExposed) {
    // bind(0.0.0.0:0) on UDP (row 7): the kernel picks an ephemeral port.
    AuditRun run = audit_in_netns({holder("udp", "0.0.0.0:0"), holder("udp", "[::]:0")}, {});
    EXPECT_EQ(run.status, 0) << run.out << run.err << run.setup_err;
    auto rows = table_rows(run.out);
    ASSERT_EQ(rows.size(), 2u) << run.out;
    for (const auto& row : rows) {
        EXPECT_EQ(row[0], "udp");
        EXPECT_EQ(row[4], "client") << row[1];
    }
}

TEST(CliAudit, OtherUsersSocketsAreListedWithOwnerUnknown) {
    AuditRun run = audit_in_netns({holder("tcp", "0.0.0.0:8080")}, {"--json"}, "nobody");
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 1u) << run.out;
    const nlohmann::json& socket = document["sockets"][0];
    EXPECT_EQ(socket["local"], "0.0.0.0:8080");
    EXPECT_TRUE(socket["pid"].is_null()) << socket;
    EXPECT_TRUE(socket["protected"].is_null()) << socket;
    EXPECT_EQ(socket["verdict"], "exposed");
    EXPECT_EQ(socket["unprotected"], false);  // unknown, not claimed
}

TEST(CliAudit, InvalidPolicyExits2) {
    std::string policy = clitest::temp_file("bad.toml", "version = 1\nmode = \"loud\"\n");
    bgtest::Result result = clitest::bindguard({"audit", "--policy", policy});
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with(policy + ":2:")) << result.err;
    EXPECT_EQ(result.out, "");
}

TEST(CliAudit, CommandLineThatIsNotUtf8StillGivesValidJson) {
    // argv[0] is the name it was started by: a symlink whose name is not UTF-8.
    std::string link = bgtest::temp_dir() + "/bg-\xff\xfe-not-utf8";
    ASSERT_EQ(::symlink(bgtest::helper_path().c_str(), link.c_str()), 0);
    std::vector<std::string> program = holder("tcp", "0.0.0.0:8080");
    program[0] = link;
    AuditRun run = audit_in_netns({program}, {"--json"});
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 1u) << run.out;
    std::string command = document["sockets"][0]["command"];
    EXPECT_NE(command.find("/bg-\xEF\xBF\xBD\xEF\xBF\xBD-not-utf8 bind tcp 0.0.0.0:8080"), std::string::npos)
        << command;  // each bad byte became U+FFFD
    EXPECT_EQ(document["sockets"][0]["program"], helper_real_path());
}

namespace {

// A policy that allows service "api" on port 4000 and nothing else. Returns its path.
// Compiled: some tests give it to a program directly (not through `bindguard run`).
std::string api_policy() {
    const std::string path =
        clitest::temp_file("api.toml",
                           "version = 1\n"
                           "[[rule]]\nname = \"public-api\"\naction = \"allow\"\nservice = \"api\"\nport = [4000]\n");
    bindguard::image::compile_file(path);
    return path;
}

// realpath(3) of path, or path. Returns it.
std::string real_path(const std::string& path) {
    char buf[PATH_MAX];
    return ::realpath(path.c_str(), buf) ? buf : path;
}

}  // namespace

TEST(CliAudit, EachOwnerIsJudgedWithItsOwnPolicy) {
    // The owner was given api.toml; audit itself has only the built-in policy, which
    // would call 0.0.0.0:4000 exposed.
    std::string policy = api_policy();
    AuditRun run = audit_in_netns({protected_holder("tcp", "0.0.0.0:4000", {"--policy", policy, "--service", "api"})},
                                  {"--json"});
    EXPECT_EQ(run.status, 0) << run.out << run.err << run.setup_err;
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 1u) << run.out;
    const nlohmann::json& socket = document["sockets"][0];
    EXPECT_EQ(socket["local"], "0.0.0.0:4000");
    EXPECT_EQ(socket["verdict"], "allowed");
    EXPECT_EQ(socket["rule"], "public-api");
    EXPECT_EQ(socket["judged_with"], real_path(policy));
    EXPECT_EQ(socket["context"]["source"], "environment");
    EXPECT_EQ(socket["context"]["policy"], real_path(policy));
    EXPECT_EQ(socket["service"], "api");
}

TEST(CliAudit, OwnerThatWroteOverItsEnvironmentIsJudgedFromTheRunRecord) {
    // As nginx under `bindguard run --service proxy`: the master writes its title over its
    // environment and forks a worker; both hold the socket.
    std::string policy = api_policy();
    std::vector<std::string> program = {bgtest::cli_path(), "run", "--policy", policy, "--service", "api", "--",
                                        BG_CLI_RETITLE, "0.0.0.0:4000", "fork"};
    AuditRun run = audit_in_netns({program}, {"--json"});
    EXPECT_EQ(run.status, 0) << run.out << run.err << run.setup_err;
    EXPECT_EQ(run.err, "");
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 1u) << run.out;
    const nlohmann::json& socket = document["sockets"][0];
    EXPECT_EQ(socket["local"], "0.0.0.0:4000");
    EXPECT_EQ(socket["pids"].size(), 2u) << socket;  // the master and its worker
    EXPECT_TRUE(socket["command"].get<std::string>().starts_with("retitled: master process")) << socket;  // the environment really is gone
    EXPECT_EQ(socket["verdict"], "allowed");
    EXPECT_EQ(socket["context"]["source"], "bindguard-run");
    EXPECT_EQ(socket["service"], "api");
    EXPECT_EQ(socket["judged_with"], real_path(policy));
}

TEST(CliAudit, ForkedWorkerIsJudgedFromItsMastersRecord) {
    // The master closed its copy of the socket: only the worker, which has no record of
    // its own, holds it. Its master runs the same program and has one.
    std::string policy = api_policy();
    std::vector<std::string> program = {bgtest::cli_path(), "run", "--policy", policy, "--service", "api", "--",
                                        BG_CLI_RETITLE, "0.0.0.0:4000", "fork-close"};
    AuditRun run = audit_in_netns({program}, {"--json"});
    EXPECT_EQ(run.status, 0) << run.out << run.err << run.setup_err;
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 1u) << run.out;
    const nlohmann::json& socket = document["sockets"][0];
    ASSERT_EQ(socket["pids"].size(), 1u) << socket;
    ASSERT_EQ(run.pids.size(), 1u);
    EXPECT_NE(socket["pid"], std::stoi(run.pids[0])) << socket;  // the worker
    EXPECT_EQ(socket["context"]["source"], "bindguard-run");
    EXPECT_EQ(socket["context"]["pid"], std::stoi(run.pids[0]));  // the master's record
    EXPECT_EQ(socket["verdict"], "allowed");
}

TEST(CliAudit, SaysSoWhenTheOwnersEnvironmentCannotBeRead) {
    // Given its variables directly (not by `bindguard run`), then wrote over them: nothing
    // says what they were, so audit judges with its own policy and no service - and says so.
    std::string policy = api_policy();
    std::vector<std::string> program = {"env", "LD_PRELOAD=" + bgtest::preload_value(), "BINDGUARD_POLICY=" + policy,
                                        "BINDGUARD_SERVICE=api", BG_CLI_RETITLE, "0.0.0.0:4000"};
    AuditRun run = audit_in_netns({program}, {"--policy", policy, "--json"});
    EXPECT_EQ(run.status, 1) << run.out << run.err << run.setup_err;
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 1u) << run.out;
    const nlohmann::json& socket = document["sockets"][0];
    EXPECT_EQ(socket["local"], "0.0.0.0:4000");  // the library did allow it
    EXPECT_EQ(socket["context"]["source"], "unreadable");
    EXPECT_EQ(socket["verdict"], "exposed");
    std::string pid = std::to_string(socket["pid"].get<int>());
    EXPECT_NE(run.err.find("note: the environment of " + pid + "/bg-cli-retitle cannot be read"), std::string::npos)
        << run.err;

    // On loopback the verdict does not depend on it: no note.
    program.back() = "127.0.0.1:4000";
    run = audit_in_netns({program}, {"--policy", policy});
    EXPECT_EQ(run.status, 0) << run.out << run.err << run.setup_err;
    EXPECT_EQ(run.err, "");
}

TEST(CliAudit, ShowsTheCommandNameNextToTheResolvedProgram) {
    // As Debian's /usr/bin/redis-server -> redis-check-rdb.
    std::string link = bgtest::temp_dir() + "/bg-renamed";
    ASSERT_EQ(::symlink(bgtest::helper_path().c_str(), link.c_str()), 0);
    std::vector<std::string> program = holder("tcp", "127.0.0.1:8080");
    program[0] = link;
    AuditRun run = audit_in_netns({program}, {});
    EXPECT_EQ(run.status, 0) << run.err << run.setup_err;
    auto rows = table_rows(run.out);
    ASSERT_EQ(rows.size(), 1u) << run.out;
    ASSERT_EQ(run.pids.size(), 1u);
    EXPECT_EQ(rows[0][2], run.pids[0] + "/bg-bindtest[bg-renamed]");
}

namespace {

// The mount point of the cgroup v2 hierarchy ("/sys/fs/cgroup" or ".../unified"). Returns
// it, or "" when there is none.
std::string cgroup2_mount() {
    for (const std::string& line : clitest::lines(bgtest::read_file("/proc/self/mounts"))) {
        std::istringstream in(line);
        std::string device, point, type;
        in >> device >> point >> type;
        if (type == "cgroup2") return point;
    }
    return "";
}

}  // namespace

TEST(CliAudit, OwnerOfAProtectedSystemdUnitIsJudgedWithTheUnitsEnvironment) {
    // As systemd runs a unit that `bindguard protect` gave a drop-in: the process sits in
    // the cgroup "NAME.service" and got the drop-in's Environment=; then it writes over its
    // environment (as nginx does). Audit reads the unit (under BINDGUARD_SYSTEMD_ROOT: this
    // machine has no systemd running and the real /etc is never written).
    std::string cgroups = cgroup2_mount();
    ASSERT_FALSE(cgroups.empty()) << "no cgroup2 hierarchy mounted";
    std::string root = bgtest::temp_dir();
    std::string name = "bg-audit-" + root.substr(root.rfind('-') + 1) + ".service";
    std::filesystem::create_directories(root + "/lib/systemd/system");
    bgtest::write_file(root + "/lib/systemd/system/" + name,
                       std::string("[Service]\nExecStart=") + BG_CLI_RETITLE + " 0.0.0.0:4000\n");
    std::string policy = api_policy();
    bgtest::Result protect = clitest::bindguard({"protect", name, "--root", root, "--service", "api", "--policy", policy},
                                                {"-BINDGUARD_SHIM"});
    ASSERT_EQ(protect.status, 0) << protect.err;

    std::string cgroup = cgroups + "/" + name;
    ASSERT_EQ(::mkdir(cgroup.c_str(), 0755), 0) << cgroup << ": " << std::strerror(errno);
    // What systemd would do: the process in the unit's cgroup, with the unit's environment.
    std::string start = "echo $$ > " + cgroup + "/cgroup.procs && exec \"$@\"";
    std::vector<std::string> program = {"sh", "-c", start, "sh", "env", "LD_PRELOAD=" + bgtest::preload_value(),
                                        "BINDGUARD_POLICY=" + policy, "BINDGUARD_SERVICE=api", BG_CLI_RETITLE, "0.0.0.0:4000"};
    AuditRun run = audit_in_netns({program}, {"--json"}, "", {"BINDGUARD_SYSTEMD_ROOT=" + root});
    ::rmdir(cgroup.c_str());  // its processes are gone: audit_in_netns waited for them
    EXPECT_EQ(run.status, 0) << run.out << run.err << run.setup_err;
    nlohmann::json document = parsed(run);
    ASSERT_EQ(document["sockets"].size(), 1u) << run.out;
    const nlohmann::json& socket = document["sockets"][0];
    EXPECT_EQ(socket["local"], "0.0.0.0:4000");
    EXPECT_EQ(socket["context"]["source"], "systemd-unit") << socket;
    EXPECT_EQ(socket["context"]["unit"], name);
    EXPECT_EQ(socket["service"], "api");
    EXPECT_EQ(socket["verdict"], "allowed");
    EXPECT_FALSE(clitest::exists(cgroup));
}

// --- --format prometheus and --output: what node_exporter's textfile collector reads ---

namespace {

// `promtool check metrics` on text (the Prometheus project's own parser and linter).
// Returns what it did.
bgtest::Result promtool_check_metrics(const std::string& text) {
    std::string path = clitest::temp_file("metrics.prom", text);
    return bgtest::run({"sh", "-c", "promtool check metrics < \"$0\"", path});
}

// The samples of a metrics text: "name{labels}" -> value; comment lines skipped.
std::map<std::string, std::string> samples(const std::string& text) {
    std::map<std::string, std::string> result;
    for (const std::string& line : clitest::lines(text)) {
        if (line.empty() || line[0] == '#') continue;
        std::size_t space = line.rfind(' ');
        result[line.substr(0, space)] = line.substr(space + 1);
    }
    return result;
}

// The seconds since the epoch, now.
double now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TEST(CliAuditPrometheus, MetricsPassPromtoolAndCountEverySocket) {
    double before = now();
    AuditRun run = audit_in_netns({holder("tcp", "0.0.0.0:8080"), protected_holder("tcp", "0.0.0.0:8081"),
                                   holder("udp", "0.0.0.0:5353"), holder("udp", "0.0.0.0:0")},
                                  {"--format", "prometheus"});
    double after = now();
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;
    bgtest::Result checked = promtool_check_metrics(run.out);
    EXPECT_EQ(checked.status, 0) << checked.out << checked.err << run.out;
    EXPECT_EQ(checked.out + checked.err, "");

    auto metrics = samples(run.out);
    std::string program = helper_real_path();
    std::map<std::string, std::string> expected = {
        {"bindguard_audit_sockets{verdict=\"ok\",protected=\"yes\"}", "1"},
        {"bindguard_audit_sockets{verdict=\"ok\",protected=\"no\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"ok\",protected=\"unknown\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"allowed\",protected=\"yes\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"allowed\",protected=\"no\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"allowed\",protected=\"unknown\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"exposed\",protected=\"yes\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"exposed\",protected=\"no\"}", "2"},
        {"bindguard_audit_sockets{verdict=\"exposed\",protected=\"unknown\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"client\",protected=\"yes\"}", "0"},
        {"bindguard_audit_sockets{verdict=\"client\",protected=\"no\"}", "1"},
        {"bindguard_audit_sockets{verdict=\"client\",protected=\"unknown\"}", "0"},
        {"bindguard_audit_exposed_sockets{proto=\"tcp\",address=\"0.0.0.0\",port=\"8080\",program=\"" + program + "\"}", "1"},
        {"bindguard_audit_exposed_sockets{proto=\"udp\",address=\"0.0.0.0\",port=\"5353\",program=\"" + program + "\"}", "1"},
        {"bindguard_audit_unprotected_sockets{proto=\"tcp\",address=\"0.0.0.0\",port=\"8080\",program=\"" + program + "\"}", "1"},
        {"bindguard_audit_unprotected_sockets{proto=\"udp\",address=\"0.0.0.0\",port=\"5353\",program=\"" + program + "\"}", "1"},
    };
    ASSERT_TRUE(metrics.contains("bindguard_audit_timestamp_seconds")) << run.out;
    double timestamp = std::stod(metrics["bindguard_audit_timestamp_seconds"]);
    EXPECT_GE(timestamp, before - 0.001);
    EXPECT_LE(timestamp, after);
    metrics.erase("bindguard_audit_timestamp_seconds");
    EXPECT_EQ(metrics, expected) << run.out;
}

TEST(CliAuditPrometheus, OutputReplacesTheFileAtomically) {
    std::string dir = bgtest::temp_dir();
    std::string path = dir + "/bindguard.prom";
    bgtest::write_file(path, "stale\n");
    struct stat old_file{};
    ASSERT_EQ(::stat(path.c_str(), &old_file), 0);
    AuditRun run = audit_in_netns({holder("tcp", "[::]:8080")}, {"--format", "prometheus", "--output", path});
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;  // the exit status still says what was found
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err, "");
    std::string text = bgtest::read_file(path);
    bgtest::Result checked = promtool_check_metrics(text);
    EXPECT_EQ(checked.status, 0) << checked.out << checked.err << text;
    EXPECT_NE(text.find("bindguard_audit_exposed_sockets{proto=\"tcp\",address=\"::\",port=\"8080\","), std::string::npos) << text;

    // A new file renamed over the old one (never the old one rewritten in place), with the
    // mode a new file gets, and nothing else left in the directory.
    struct stat new_file{};
    ASSERT_EQ(::stat(path.c_str(), &new_file), 0);
    EXPECT_NE(new_file.st_ino, old_file.st_ino);
    mode_t mask = ::umask(0);
    ::umask(mask);
    EXPECT_EQ(new_file.st_mode & 07777, 0666 & ~mask);
    bgtest::Result listing = bgtest::run({"ls", "-A", dir});
    EXPECT_EQ(listing.out, "bindguard.prom\n");

    // --output works for the other formats too.
    run = audit_in_netns({}, {"--json", "--output", path});
    EXPECT_EQ(run.status, 0) << run.err;
    EXPECT_EQ(run.out, "");
    EXPECT_FALSE(nlohmann::json::parse(bgtest::read_file(path), nullptr, false).is_discarded());

    // A directory that does not exist: exit 2, nothing written.
    run = audit_in_netns({}, {"--format", "prometheus", "--output", dir + "/missing/bindguard.prom"});
    EXPECT_EQ(run.status, 2);
    EXPECT_EQ(run.err, "bindguard audit: cannot write " + dir + "/missing/bindguard.prom: cannot create a file in " + dir +
                           "/missing: No such file or directory\n");
    listing = bgtest::run({"ls", "-A", dir});
    EXPECT_EQ(listing.out, "bindguard.prom\n");
}

TEST(CliAuditPrometheus, LabelValuesAreEscaped) {
    // A program whose path holds a double quote, a backslash, a newline and a byte that is
    // not UTF-8: all of them reach the label value through /proc/PID/exe.
    std::string program = bgtest::temp_dir() + "/bg \"quoted\" back\\slash\nline \xff";
    ASSERT_EQ(bgtest::run({"cp", bgtest::helper_path(), program}).status, 0);
    std::vector<std::string> argv = holder("tcp", "0.0.0.0:8080");
    argv[0] = program;
    AuditRun run = audit_in_netns({argv}, {"--format", "prometheus"});
    EXPECT_EQ(run.status, 1) << run.err << run.setup_err;
    bgtest::Result checked = promtool_check_metrics(run.out);
    EXPECT_EQ(checked.status, 0) << checked.out << checked.err << run.out;
    std::string escaped = program.substr(0, program.rfind('/')) + "/bg \\\"quoted\\\" back\\\\slash\\nline \xEF\xBF\xBD";
    EXPECT_NE(run.out.find("bindguard_audit_exposed_sockets{proto=\"tcp\",address=\"0.0.0.0\",port=\"8080\",program=\"" +
                           escaped + "\"} 1\n"),
              std::string::npos)
        << run.out;
}

TEST(CliAuditPrometheus, FormatOptions) {
    bgtest::Result result = clitest::bindguard({"audit", "--format", "yaml"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("--format: invalid value 'yaml' (table, json or prometheus)"), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "");

    result = clitest::bindguard({"audit", "--json", "--format", "prometheus"});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("--json and --format prometheus contradict each other"), std::string::npos) << result.err;

    AuditRun table = audit_in_netns({}, {"--format", "table"});
    EXPECT_EQ(table.status, 0) << table.err;
    EXPECT_EQ(clitest::lines(table.out).back(), "0 sockets, 0 exposed (0 unprotected)");
    AuditRun json = audit_in_netns({}, {"--format", "json"});
    EXPECT_EQ(json.status, 0) << json.err;
    EXPECT_EQ(parsed(json)["sockets"], nlohmann::json::array());
}
