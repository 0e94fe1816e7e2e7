// The shim's log lines: text and JSON formats, the sinks (stderr copy, file,
// none), the fallback of a failing file sink, the rate limit, and the protection
// against a host that reuses the number of the library's stderr copy.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "shim_test_util.hpp"
#include "support/log_line.hpp"

namespace {

using namespace shimtest;
using namespace std::chrono_literals;

std::string escape_regex(const std::string& text) {
    return std::regex_replace(text, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)");
}

std::string policy_with_log(const std::string& log_table, const std::string& rest = "") {
    return write_policy("version = 1\n" + rest + "[log]\n" + log_table);
}

int count_containing(const std::vector<std::string>& lines, const std::string& needle) {
    int count = 0;
    for (const auto& line : lines) count += line.find(needle) != std::string::npos;
    return count;
}

TEST(LogText, RewriteLineHasTheDocumentedFormatAndGoesToStderrOnly) {
    const auto port = std::to_string(bgtest::free_port());
    auto result = helper({"bind", "tcp", "0.0.0.0:" + port}, default_policy(), {"BINDGUARD_SERVICE=web"});
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    const std::regex expected("^bindguard\\[[0-9]+\\]: rewrite tcp 0\\.0\\.0\\.0:" + port + " -> 127\\.0\\.0\\.1:" +
                              port + " rule=default program=" + escape_regex(bgtest::helper_path()) +
                              " service=web$");
    EXPECT_TRUE(std::regex_match(logs[0], expected)) << logs[0];
    // Never to stdout: stdout holds only the helper's own line.
    EXPECT_EQ(lines(result.out).size(), 1u) << result.out;
    EXPECT_EQ(result.out.find("bindguard"), std::string::npos);
}

TEST(LogText, DenyAndDebugAllowLines) {
    const auto policy = policy_with_log("level = \"debug\"\n", "[default]\naction = \"deny\"\n");
    auto denied = helper({"bind", "tcp", "0.0.0.0:0"}, policy);
    EXPECT_EQ(count_containing(log_lines(denied.err), "]: deny tcp 0.0.0.0:0 -> EACCES rule=default program="), 1)
        << denied.err;
    auto allowed = helper({"bind", "tcp", "127.0.0.1:0", "listen"}, policy);
    const auto logs = log_lines(allowed.err);
    EXPECT_EQ(count_containing(logs, "]: allow tcp 127.0.0.1:0 rule=loopback program="), 1) << allowed.err;
    EXPECT_EQ(count_containing(logs, "]: allow tcp 127.0.0.1:"), 2) << allowed.err;  // bind and listen
    EXPECT_EQ(count_containing(logs, "call=listen"), 1) << allowed.err;
}

TEST(LogText, ProgramNameWithControlCharactersStaysOneLine) {
    const std::string dir = bgtest::temp_dir() + "/with \"quote\" and\nnewline";
    std::filesystem::create_directories(dir);
    const std::string program = dir + "/bg-bind\ttest";
    std::filesystem::copy_file(bgtest::helper_path(), program);
    std::filesystem::permissions(program, std::filesystem::perms::owner_all);
    auto result = bgtest::run({program, "bind", "tcp", "0.0.0.0:0"}, shim_env(default_policy()));
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("with\\x20\\x22quote\\x22\\x20and\\x0anewline/bg-bind\\x09test service=-"),
              std::string::npos)
        << logs[0];
}

// Hostile service names, rule names and program paths (spaces and '=' that look
// like fields, literal backslash sequences, quotes, bytes >= 0x80, a lone "-")
// cannot plant or hide fields: every text line parses back to exactly the
// values the library was given.
TEST(LogText, HostileValuesParseBackToExactlyTheirFields) {
    const std::vector<std::string> hostile = {
        "api rule=proxy-web program=/usr/bin/caddy", "a\\nb", "\\x41\\x3d", "-", "x=y", "\"quoted\"",
        "\xff\xfe \xc3\xa9t\xc3\xa9", "tab\there", "trailing ", "=", "\\", "--"};
    const std::string dir = bgtest::temp_dir() + "/a b=c \\x20 \xc3\xa9 -";
    std::filesystem::create_directories(dir);
    const std::string program = dir + "/bg test=1 \\";
    std::filesystem::copy_file(bgtest::helper_path(), program);
    std::filesystem::permissions(program, std::filesystem::perms::owner_all);
    for (const std::string& value : hostile) {
        // The same value as the rule's name (TOML basic string: escape '\\' and '"'; bytes >= 0x80 only as UTF-8).
        std::string rule = value;
        if (rule.find('\xff') != std::string::npos) rule = "r\xc3\xa9gle x=1";
        std::string toml;
        for (char c : rule) {
            if (c == '\\' || c == '"') toml += '\\';
            if (c == '\t') { toml += "\\t"; continue; }
            toml += c;
        }
        const auto policy = write_policy("version = 1\n[[rule]]\nname = \"" + toml +
                                         "\"\naction = \"deny\"\nport = [4000]\n");
        auto result = bgtest::run({program, "bind", "tcp", "0.0.0.0:4000"},
                                  shim_env(policy, {"BINDGUARD_SERVICE=" + value}));
        const auto logs = log_lines(result.err);
        ASSERT_EQ(logs.size(), 1u) << value << "\n" << result.err;
        const auto parsed = bgtest::parse_text_log_line(logs[0]);
        ASSERT_TRUE(parsed.has_value()) << logs[0];
        EXPECT_EQ(parsed->words, (std::vector<std::string>{"deny", "tcp", "0.0.0.0:4000", "->", "EACCES"})) << logs[0];
        ASSERT_EQ(parsed->fields.size(), 3u) << logs[0];
        EXPECT_EQ(parsed->fields[0], (std::pair<std::string, std::string>{"rule", rule})) << logs[0];
        EXPECT_EQ(parsed->fields[1], (std::pair<std::string, std::string>{"program", program})) << logs[0];
        EXPECT_EQ(parsed->fields[2], (std::pair<std::string, std::string>{"service", value})) << logs[0];
        // Nothing outside printable ASCII is written raw.
        for (unsigned char c : logs[0]) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << logs[0];
    }
}

// The reader itself: it takes back what escape_text_field() writes and refuses
// lines the library could not have written.
TEST(LogText, ParserRefusesWhatTheLibraryCannotWrite) {
    for (const char* value : {"", "-", "a b", "x=y", "\\x41", "\xff", "\"", "ok"}) {
        const auto line = "bindguard[7]: allow tcp 127.0.0.1:1 rule=" + bgtest::escape_text_field(value) + " service=-";
        const auto parsed = bgtest::parse_text_log_line(line);
        ASSERT_TRUE(parsed.has_value()) << line;
        EXPECT_EQ(parsed->field("rule"), std::string(value)) << line;
        EXPECT_EQ(parsed->field("service"), std::string()) << line;
    }
    for (const char* line : {"bindguard[7]: allow rule=a b", "bindguard[7]: allow  rule=a", "bindguard[7]: allow rule=a\\",
                             "bindguard[7]: allow rule=\\x4", "bindguard[7]: allow rule=\\xZZ", "bindguard[7]: allow rule=a=b",
                             "bindguard[7]: allow rule=a rule=b", "bindguard[7]: rule=a allow", "bindguard[x]: allow",
                             "bindguard[7]: allow rule=\xc3\xa9", "bindguard[7]: allow rule=", "bindguard[7]: allow "})
        EXPECT_FALSE(bgtest::parse_text_log_line(line).has_value()) << line;
}

// Runs the helper with a JSON policy and returns the parsed log lines.
std::vector<nlohmann::json> json_lines(const bgtest::Result& result) {
    std::vector<nlohmann::json> out;
    for (const auto& line : lines(result.err)) {
        EXPECT_FALSE(line.empty());
        auto parsed = nlohmann::json::parse(line, nullptr, false);
        EXPECT_FALSE(parsed.is_discarded()) << "not one valid JSON line: " << line;
        if (!parsed.is_discarded()) out.push_back(parsed);
    }
    return out;
}

TEST(LogJson, RewriteDenyAndListenRecords) {
    const auto policy = policy_with_log("format = \"json\"\n");
    const auto port = std::to_string(bgtest::free_port());
    const auto before = std::chrono::system_clock::now();
    auto result = helper({"bind", "tcp", "0.0.0.0:" + port, "listen"}, policy, {"BINDGUARD_SERVICE=api"});
    auto records = json_lines(result);
    ASSERT_EQ(records.size(), 1u) << result.err;
    const auto& record = records[0];
    for (const char* key : {"ts", "pid", "program", "service", "call", "proto", "requested", "action", "result",
                            "rule", "mode", "errno"})
        EXPECT_TRUE(record.contains(key)) << key << " missing in " << record.dump();
    const std::string ts = record["ts"];
    EXPECT_TRUE(std::regex_match(ts, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)"))) << ts;
    // The timestamp is UTC and now: compare with the clock, formatted independently.
    const std::time_t now = std::chrono::system_clock::to_time_t(before);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char expected_prefix[32];
    std::strftime(expected_prefix, sizeof expected_prefix, "%Y-%m-%dT%H:%M", &utc);
    EXPECT_EQ(ts.substr(0, 13), std::string(expected_prefix).substr(0, 13)) << ts;  // same hour
    EXPECT_TRUE(record["pid"].is_number_integer());
    EXPECT_EQ(record["program"], bgtest::helper_path());
    EXPECT_EQ(record["service"], "api");
    EXPECT_EQ(record["call"], "bind");
    EXPECT_EQ(record["proto"], "tcp");
    EXPECT_EQ(record["requested"], "0.0.0.0:" + port);
    EXPECT_EQ(record["action"], "rewrite");
    EXPECT_EQ(record["result"], "127.0.0.1:" + port);
    EXPECT_EQ(record["rule"], "default");
    EXPECT_EQ(record["mode"], "enforce");
    EXPECT_EQ(record["errno"], 0);

    auto unbound = json_lines(helper({"listen-unbound", "tcp"}, policy));
    ASSERT_EQ(unbound.size(), 1u);
    EXPECT_EQ(unbound[0]["call"], "listen");
    EXPECT_EQ(unbound[0]["requested"], "0.0.0.0:0");
    EXPECT_TRUE(std::regex_match(unbound[0]["result"].get<std::string>(), std::regex(R"(127\.0\.0\.1:[1-9][0-9]*)")))
        << unbound[0].dump();

    const auto deny = policy_with_log("format = \"json\"\n", "[default]\naction = \"deny\"\n");
    auto denied = json_lines(helper({"bind", "udp", "[::]:" + port}, deny));
    ASSERT_EQ(denied.size(), 1u);
    EXPECT_EQ(denied[0]["action"], "deny");
    EXPECT_EQ(denied[0]["proto"], "udp");
    EXPECT_EQ(denied[0]["requested"], "[::]:" + port);
    EXPECT_EQ(denied[0]["result"], "EACCES");
    EXPECT_EQ(denied[0]["errno"], EACCES);
}

TEST(LogJson, AuditModeRecords) {
    const auto policy = policy_with_log("format = \"json\"\n", "mode = \"audit\"\n");
    auto result = in_netns("env $SHIM_ENV \"$HELPER\" bind tcp 0.0.0.0:0", policy);
    auto records = json_lines(result);
    ASSERT_EQ(records.size(), 1u) << result.err;
    EXPECT_EQ(records[0]["action"], "would-rewrite");
    EXPECT_EQ(records[0]["mode"], "audit");
    EXPECT_TRUE(std::regex_match(records[0]["result"].get<std::string>(), std::regex(R"(0\.0\.0\.0:[1-9][0-9]*)")))
        << records[0].dump();
}

TEST(LogJson, StringsAreEscapedSoEveryLineIsValid) {
    const std::string dir = bgtest::temp_dir() + "/a \"quoted\" dir\\with\nnewline";
    std::filesystem::create_directories(dir);
    const std::string program = dir + "/bg \x01 test \xff\xfe";
    std::filesystem::copy_file(bgtest::helper_path(), program);
    std::filesystem::permissions(program, std::filesystem::perms::owner_all);
    const std::string service = "we\"b\\\x1f\xc3\xa9";  // quote, backslash, control, UTF-8 e-acute
    auto env = shim_env(policy_with_log("format = \"json\"\n"));
    env.push_back("BINDGUARD_SERVICE=" + service);
    auto result = bgtest::run({program, "bind", "tcp", "0.0.0.0:0"}, env);
    auto records = json_lines(result);
    ASSERT_EQ(records.size(), 1u) << result.err;
    EXPECT_EQ(lines(result.err).size(), 1u);
    // Invalid UTF-8 bytes are given as \u00XX (the byte as a code point); all else is exact.
    EXPECT_EQ(records[0]["program"], dir + "/bg \x01 test \xc3\xbf\xc3\xbe");
    EXPECT_EQ(records[0]["service"], service);
}

TEST(LogFile, ManyProcessesAppendWholeLinesToOneFile) {
    const std::string log = bgtest::temp_dir() + "/bindguard.log";
    const auto policy = policy_with_log("to = \"file\"\npath = \"" + log + "\"\nrate = 0\n");
    constexpr int kProcesses = 4;
    constexpr int kBinds = 50;
    std::vector<std::thread> threads;
    std::vector<bgtest::Result> results(kProcesses);
    for (int i = 0; i < kProcesses; ++i)
        threads.emplace_back([&, i] { results[i] = helper({"repeat", std::to_string(kBinds), "0.0.0.0:0"}, policy); });
    for (auto& thread : threads) thread.join();
    for (const auto& result : results) {
        EXPECT_EQ(result_of(result)["failures"], "0") << result.out;
        EXPECT_TRUE(log_lines(result.err).empty()) << result.err;  // the file sink only
    }
    const auto written = lines(bgtest::read_file(log));
    EXPECT_EQ(written.size(), static_cast<std::size_t>(kProcesses * kBinds));
    const std::regex line("^bindguard\\[[0-9]+\\]: rewrite tcp 0\\.0\\.0\\.0:0 -> 127\\.0\\.0\\.1:0 rule=default "
                          "program=" + escape_regex(bgtest::helper_path()) + " service=-$");
    for (const auto& entry : written) EXPECT_TRUE(std::regex_match(entry, line)) << entry;
    // Created 0640 (less the umask the processes inherited from us).
    const mode_t mask = umask(0);
    umask(mask);
    EXPECT_EQ(static_cast<mode_t>(std::filesystem::status(log).permissions() & std::filesystem::perms::all),
              static_cast<mode_t>(0640 & ~mask));
}

TEST(LogFile, UnopenableFileFallsBackToStderrWithOneErrorLine) {
    const std::string log = bgtest::temp_dir() + "/missing-dir/bindguard.log";
    auto result = helper({"repeat", "3", "0.0.0.0:0"}, policy_with_log("to = \"file\"\npath = \"" + log + "\"\n"));
    const auto logs = log_lines(result.err);
    EXPECT_EQ(count_containing(logs, "error: cannot open log file " + log + ": No such file or directory"), 1)
        << result.err;
    EXPECT_EQ(count_containing(logs, "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), 3) << result.err;
    EXPECT_EQ(result_of(result)["failures"], "0");
}

TEST(LogFile, FullDiskFallsBackToStderrWithOneErrorLine) {
    // A full file system: a 4 KiB tmpfs, filled, in a private mount namespace.
    const std::string dir = bgtest::temp_dir();
    const auto policy = policy_with_log("to = \"file\"\npath = \"" + dir + "/bindguard.log\"\n");
    std::string assignments;
    for (const auto& entry : shim_env(policy))
        if (entry[0] != '-') assignments += (assignments.empty() ? "" : " ") + entry;
    auto result = bgtest::run({"unshare", "-m", "sh", "-c",
                               "mount -t tmpfs -o size=4k tmpfs \"$1\" && head -c 4096 /dev/zero > \"$1/fill\"; "
                               "exec env $SHIM_ENV \"$HELPER\" repeat 3 0.0.0.0:0",
                               "sh", dir},
                              {"SHIM_ENV=" + assignments, "HELPER=" + bgtest::helper_path(), "-LD_PRELOAD"});
    const auto logs = log_lines(result.err);
    EXPECT_EQ(count_containing(logs, "error: cannot write log file " + dir +
                                         "/bindguard.log: No space left on device; logging to stderr from now on"),
              1)
        << result.err;
    EXPECT_EQ(count_containing(logs, "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), 3) << result.err;
    EXPECT_EQ(result_of(result)["failures"], "0");
}

// A FIFO as log.path used to block every process at start (open() waits for a
// reader); a device is no log file either. Both are refused: one error line, then
// the lines go to stderr, and the program runs.
TEST(LogFile, FifoOrDeviceIsRefusedAndFallsBackToStderrWithoutHanging) {
    const std::string fifo = bgtest::temp_dir() + "/log.fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    auto result = bgtest::run({bgtest::helper_path(), "repeat", "2", "0.0.0.0:0"},
                              shim_env(policy_with_log("to = \"file\"\npath = \"" + fifo + "\"\n")), 10s);
    ASSERT_EQ(result.status, 0) << "hung or failed: " << result.err;
    auto logs = log_lines(result.err);
    EXPECT_EQ(count_containing(logs, "error: cannot open log file " + fifo +
                                         ": it is a FIFO, not a regular file; logging to stderr instead"),
              1)
        << result.err;
    EXPECT_EQ(count_containing(logs, "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), 2) << result.err;

    result = helper({"repeat", "1", "0.0.0.0:0"}, policy_with_log("to = \"file\"\npath = \"/dev/null\"\n"));
    logs = log_lines(result.err);
    EXPECT_EQ(count_containing(logs, "error: cannot open log file /dev/null: it is not a regular file"), 1)
        << result.err;
    EXPECT_EQ(count_containing(logs, "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), 1) << result.err;
}

TEST(LogSink, NoneWritesNothing) {
    auto result = helper({"bind", "tcp", "0.0.0.0:0"}, policy_with_log("to = \"none\"\n"));
    EXPECT_EQ(result.err, "");
    EXPECT_EQ(result_of(result)["local"].rfind("127.0.0.1:", 0), 0u);
}

TEST(LogSink, StderrPointedElsewhereByTheProgramIsNeverWrittenTo) {
    // The program closes every fd above 2 and puts a file of its own on fd 2: the
    // library writes neither into that file nor to the original stderr.
    const std::string file = bgtest::temp_dir() + "/host-file";
    auto result = helper({"fd-reuse", file, "0.0.0.0:0"}, default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "0") << result.out << result.err;
    EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u);  // still enforced
    EXPECT_EQ(bgtest::read_file(file), "");
    EXPECT_TRUE(log_lines(result.err).empty()) << result.err;
}

// A daemon (fork, setsid, 0/1/2 on /dev/null) must not keep its starter's stderr
// open through the library: out=$(start-daemon 2>&1), ssh and CI steps wait for
// that file's last writer. The daemon counts its fds that still refer to it.
TEST(LogSink, DaemonKeepsNoCopyOfItsStartersStderr) {
    const std::string report = bgtest::temp_dir() + "/daemon.report";
    auto result = helper({"daemon", report}, default_policy());
    ASSERT_EQ(result.status, 0) << result.err;
    std::string text;
    for (int i = 0; i < 200 && (text = bgtest::read_file(report)).empty(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    auto f = bgtest::fields(text);
    EXPECT_EQ(f["held"], "0") << text;
    EXPECT_EQ(f["ret"], "0") << text;
    EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << text;  // still enforced
    EXPECT_TRUE(log_lines(result.err).empty()) << result.err;  // the daemon's line went nowhere
}

// A valid policy's warnings are for `bindguard check`/`explain`, not for every
// program's stderr; errors of an invalid policy are still printed (Row20).
TEST(LogDiagnostics, ValidPolicysWarningsAreNotPrinted) {
    const auto policy = write_policy("version = 1\n[[rule]]\nname = \"all\"\naction = \"rewrite\"\n"
                                     "[[rule]]\nname = \"lan\"\naction = \"allow\"\naddress = [\"10.1.2.3/8\"]\n");
    auto check = bgtest::run({bgtest::cli_path(), "check", policy});
    ASSERT_EQ(check.status, 0) << check.err;
    ASSERT_NE(check.err.find(": warning: "), std::string::npos) << check.err;  // it has warnings
    auto result = helper({"bind", "tcp", "0.0.0.0:0"}, policy);
    EXPECT_EQ(result.err.find("warning"), std::string::npos) << result.err;
    EXPECT_EQ(count_containing(log_lines(result.err), "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0 rule=all"), 1)
        << result.err;
}

TEST(LogRate, TextSaysHowManyLinesWereSuppressed) {
    const auto policy = policy_with_log("rate = 5\n");
    auto result = helper({"repeat", "20", "0.0.0.0:0", "pause=1100", "again=1"}, policy);
    const auto logs = log_lines(result.err);
    int rewrites = 0;
    int suppressed = 0;
    int suppressed_lines = 0;
    const std::regex suppressed_line(R"(^bindguard\[[0-9]+\]: suppressed ([0-9]+) log lines$)");
    for (const auto& line : logs) {
        std::smatch match;
        if (std::regex_match(line, match, suppressed_line)) {
            suppressed += std::stoi(match[1]);
            ++suppressed_lines;
        } else if (line.find("rewrite tcp") != std::string::npos) {
            ++rewrites;
        }
    }
    EXPECT_EQ(rewrites + suppressed, 21) << result.err;
    EXPECT_LE(rewrites, 11) << result.err;  // 5 per second (the burst may straddle a second)
    EXPECT_GE(suppressed_lines, 1);
    ASSERT_GE(logs.size(), 2u);
    EXPECT_NE(logs[logs.size() - 2].find("suppressed"), std::string::npos) << result.err;
    EXPECT_NE(logs.back().find("rewrite tcp"), std::string::npos) << result.err;
}

TEST(LogRate, JsonCarriesTheSuppressedCount) {
    const auto policy = policy_with_log("rate = 5\nformat = \"json\"\n");
    auto records = json_lines(helper({"repeat", "20", "0.0.0.0:0", "pause=1100", "again=1"}, policy));
    int suppressed = 0;
    for (const auto& record : records) suppressed += record.value("suppressed", 0);
    EXPECT_EQ(static_cast<int>(records.size()) + suppressed, 21);
    ASSERT_FALSE(records.empty());
    EXPECT_GT(records.back().value("suppressed", 0), 0) << records.back().dump();
}

// Runs the helper (with the shim and policy) in a private mount namespace whose
// /dev is an empty tmpfs; with listen = true a receiver owns /dev/log there.
// Returns the receiver's report: "out: ...", "err: ..." and one "syslog: ..." per datagram.
bgtest::Result with_private_dev_log(const std::vector<std::string>& helper_args, const std::string& policy,
                                    bool listen) {
    const std::string receiver = bgtest::temp_dir() + "/receiver.py";
    bgtest::write_file(receiver,
                       "import socket, subprocess, sys\n"
                       "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                       "if sys.argv[1] == 'listen': s.bind('/dev/log')\n"
                       "p = subprocess.run(sys.argv[2:], capture_output=True, text=True)\n"
                       "print('out: ' + p.stdout.rstrip('\\n'))\n"
                       "print('err: ' + p.stderr.rstrip('\\n'))\n"
                       "s.settimeout(0.3)\n"
                       "try:\n"
                       "    while sys.argv[1] == 'listen': print('syslog: ' + s.recv(65536).decode())\n"
                       "except socket.timeout: pass\n");
    std::string command = "mount -t tmpfs bindguard-test /dev && exec /usr/bin/python3 \"$0\" " +
                          std::string(listen ? "listen" : "none") + " env $SHIM_ENV \"$HELPER\"";
    for (const auto& arg : helper_args) command += " " + arg;
    std::string assignments;
    for (const auto& entry : shim_env(policy))
        if (entry[0] != '-') assignments += (assignments.empty() ? "" : " ") + entry;
    return bgtest::run({"unshare", "-m", "sh", "-c", command, receiver},
                       {"SHIM_ENV=" + assignments, "HELPER=" + bgtest::helper_path(), "-LD_PRELOAD"});
}

TEST(LogSyslog, TextLinesAreDatagramsToDevLog) {
    const auto report = with_private_dev_log({"bind", "tcp", "0.0.0.0:0"}, policy_with_log("to = \"syslog\"\n"), true);
    ASSERT_EQ(report.status, 0) << report.err;
    int datagrams = 0;
    const std::regex expected("^syslog: <30>bindguard\\[[0-9]+\\]: rewrite tcp 0\\.0\\.0\\.0:0 -> 127\\.0\\.0\\.1:0 "
                              "rule=default program=" + escape_regex(bgtest::helper_path()) + " service=-$");
    for (const auto& line : lines(report.out))
        if (line.rfind("syslog: ", 0) == 0) {
            ++datagrams;
            EXPECT_TRUE(std::regex_match(line, expected)) << line;
        }
    EXPECT_EQ(datagrams, 1) << report.out;
    EXPECT_NE(report.out.find("err: \n"), std::string::npos) << "nothing on stderr: " << report.out;
}

TEST(LogSyslog, JsonLinesCarryTheSyslogTag) {
    const auto report = with_private_dev_log({"bind", "tcp", "0.0.0.0:0"},
                                             policy_with_log("to = \"syslog\"\nformat = \"json\"\n"), true);
    std::smatch match;
    const std::string out = report.out;
    ASSERT_TRUE(std::regex_search(out, match, std::regex("syslog: <30>bindguard\\[[0-9]+\\]: (\\{[^\n]*\\})")))
        << out << report.err;
    auto record = nlohmann::json::parse(match[1].str(), nullptr, false);
    ASSERT_FALSE(record.is_discarded()) << match[1];
    EXPECT_EQ(record["action"], "rewrite");
}

TEST(LogSyslog, MissingDevLogFallsBackToStderrWithOneErrorLine) {
    const auto report = with_private_dev_log({"repeat", "2", "0.0.0.0:0"}, policy_with_log("to = \"syslog\"\n"), false);
    const auto logs = log_lines(report.out.substr(report.out.find("err: ") + 5));
    ASSERT_EQ(logs.size(), 3u) << report.out << report.err;
    EXPECT_NE(logs[0].find("error: cannot connect to syslog at /dev/log: No such file or directory"), std::string::npos)
        << logs[0];
    EXPECT_EQ(count_containing(logs, "rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), 2);
}

}  // namespace
