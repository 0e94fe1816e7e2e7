// examples/monitoring/: the systemd units that run `bindguard audit` every minute into
// node_exporter's textfile collector directory, and the Prometheus alert rules - checked
// with systemd-analyze and promtool, and fed with what the real audit writes.
#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>

#include "support/process.hpp"
#include "support/text.hpp"

namespace {

std::string dir() { return bgtest::source_dir() + "/examples/monitoring"; }

const std::vector<std::string> kAlerts = {"BindguardExposedListener", "BindguardUnprotectedListener", "BindguardDockerPublicPublish",
                                          "BindguardAuditStale"};

// Quotes text for sh. Returns 'text' with inner quotes escaped.
std::string sh_quoted(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// The value of the first "Key=" line of a unit file (comments skipped); "" when none.
std::string setting(const std::string& unit_text, const std::string& key) {
    for (const std::string& line : bgtest::lines(unit_text))
        if (line.starts_with(key + "=")) return line.substr(key.size() + 1);
    return "";
}

// In a private mount and network namespace: the built command at /usr/local/bin/bindguard,
// an empty /var/lib with the collector's directory, a listener on 0.0.0.0:8080 without the
// library; then `script`. Returns what the script did.
bgtest::Result in_private_host(const std::string& script) {
    std::string setup =
        "set -e\n"
        "ip link set lo up\n"
        "mount -t tmpfs none /usr/local/bin\n"
        "ln -s " + sh_quoted(bgtest::cli_path()) + " /usr/local/bin/bindguard\n"
        "mount -t tmpfs none /var/lib\n"
        "mkdir -p /var/lib/prometheus/node-exporter\n"
        "out=$(mktemp)\n" +
        sh_quoted(bgtest::helper_path()) + " bind tcp 0.0.0.0:8080 listen hold > \"$out\" &\n"
        "holder=$!\n"
        "n=0; until [ -s \"$out\" ]; do n=$((n+1)); [ $n -gt 400 ] && exit 91; sleep 0.05; done\n"
        "set +e\n";
    return bgtest::run({"unshare", "-m", "-n", "sh", "-c", setup + script + "\nstatus=$?\nkill $holder\nwait\nexit $status\n"},
                       {"-BINDGUARD_POLICY", "-LD_PRELOAD"});
}

TEST(MonitoringExample, AlertRulesPassPromtoolAndTheirUnitTests) {
    bgtest::Result checked = bgtest::run({"promtool", "check", "rules", dir() + "/bindguard-alerts.yml"});
    EXPECT_EQ(checked.status, 0) << checked.out << checked.err;
    EXPECT_NE(checked.out.find("SUCCESS: 4 rules found"), std::string::npos) << checked.out;

    bgtest::Result tested = bgtest::run({"promtool", "test", "rules", dir() + "/bindguard-alerts.test.yml"});
    EXPECT_EQ(tested.status, 0) << tested.out << tested.err;
    EXPECT_NE(tested.out.find("SUCCESS"), std::string::npos) << tested.out;

    // Each alert of the rules file has a unit test in which it fires.
    std::string rules = bgtest::read_file(dir() + "/bindguard-alerts.yml");
    std::string tests = bgtest::read_file(dir() + "/bindguard-alerts.test.yml");
    for (const std::string& alert : kAlerts) {
        EXPECT_NE(rules.find("- alert: " + alert + "\n"), std::string::npos) << alert;
        std::regex fires("alertname: " + alert + "\\n\\s+exp_alerts:\\n\\s+- exp_labels:");
        EXPECT_TRUE(std::regex_search(tests, fires)) << alert << " has no test in which it fires";
    }
}

TEST(MonitoringExample, UnitsPassSystemdAnalyzeVerify) {
    bgtest::Result verified = in_private_host("systemd-analyze verify " + sh_quoted(dir() + "/bindguard-audit.service") + " " +
                                              sh_quoted(dir() + "/bindguard-audit.timer"));
    EXPECT_EQ(verified.status, 0) << verified.out << verified.err;
    EXPECT_EQ(verified.out + verified.err, "");  // systemd-analyze reports ignored settings on stderr with status 0

    std::string timer = bgtest::read_file(dir() + "/bindguard-audit.timer");
    EXPECT_EQ(setting(timer, "OnCalendar"), "minutely");
    EXPECT_EQ(setting(timer, "WantedBy"), "timers.target");
}

// The service's own ExecStart, run as systemd would run it (as root, in the host's network
// namespace - here a private one), writes what the textfile collector reads, and the exit
// status of an audit that found something counts as success for the unit.
TEST(MonitoringExample, ServiceWritesTheAuditIntoTheCollectorDirectory) {
    std::string service = bgtest::read_file(dir() + "/bindguard-audit.service");
    std::string exec_start = setting(service, "ExecStart");
    ASSERT_EQ(exec_start, "/usr/local/bin/bindguard audit --format prometheus --output "
                          "/var/lib/prometheus/node-exporter/bindguard.prom");
    EXPECT_EQ(setting(service, "Type"), "oneshot");
    EXPECT_EQ(setting(service, "SuccessExitStatus"), "1");
    bgtest::Result result = in_private_host(exec_start + "\necho \"status=$?\"\n"
                                            "cat /var/lib/prometheus/node-exporter/bindguard.prom > /dev/stderr\n"
                                            "ls -A /var/lib/prometheus/node-exporter");
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "status=1\nbindguard.prom\n") << result.err;  // 1: something is exposed
    EXPECT_NE(result.err.find("bindguard_audit_exposed_sockets{proto=\"tcp\",address=\"0.0.0.0\",port=\"8080\","),
              std::string::npos)
        << result.err;
}

// The alert rules fire on what the real audit writes: its metrics from a host with an
// exposed, unprotected listener become the input series of a promtool unit test.
TEST(MonitoringExample, AlertsFireOnWhatTheAuditReallyWrites) {
    bgtest::Result audited = in_private_host("/usr/local/bin/bindguard audit --format prometheus");
    ASSERT_EQ(audited.status, 1) << audited.err;

    std::string instance = "host1:9100";
    std::string series, exposed_labels;
    for (const std::string& line : bgtest::lines(audited.out)) {
        if (line.empty() || line[0] == '#') continue;
        std::size_t space = line.rfind(' ');
        std::string name_and_labels = line.substr(0, space), value = line.substr(space + 1);
        std::string with_host = name_and_labels.back() == '}'
                                    ? name_and_labels.substr(0, name_and_labels.size() - 1) + ",instance=\"" + instance + "\",job=\"node\"}"
                                    : name_and_labels + "{instance=\"" + instance + "\",job=\"node\"}";
        bool timestamp = name_and_labels == "bindguard_audit_timestamp_seconds";
        series += "      - series: " + sh_quoted(with_host) + "\n        values: '" + (timestamp ? "0+60x10" : value + "x10") + "'\n";
        if (name_and_labels.starts_with("bindguard_audit_exposed_sockets{")) exposed_labels = name_and_labels;
    }
    std::smatch m;
    ASSERT_TRUE(std::regex_match(exposed_labels, m,
                                 std::regex(R"re(bindguard_audit_exposed_sockets\{proto="(\w+)",address="([^"]*)",port="(\d+)",program="([^"]*)"\})re")))
        << audited.out;
    std::string proto = m[1], address = m[2], port = m[3], program = m[4];
    EXPECT_EQ(address, "0.0.0.0");
    EXPECT_EQ(port, "8080");

    std::string labels = "              severity: critical\n              instance: \"" + instance + "\"\n              job: node\n"
                         "              proto: " + proto + "\n              address: \"" + address + "\"\n              port: \"" + port +
                         "\"\n              program: \"" + program + "\"\n";
    std::string test =
        "rule_files: [" + sh_quoted(dir() + "/bindguard-alerts.yml") + "]\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    input_series:\n" + series +
        "    alert_rule_test:\n"
        "      - eval_time: 3m\n"
        "        alertname: BindguardExposedListener\n"
        "        exp_alerts:\n"
        "          - exp_labels:\n" + labels +
        "            exp_annotations:\n"
        "              summary: \"" + program + " listens on " + address + " port " + port + "/" + proto + " on " + instance + "\"\n"
        "              description: \"Not loopback, and no allow rule of the host's policy matches. Bind it to 127.0.0.1 (or "
        "start it under `bindguard run`), or add an allow rule if it is the public proxy.\"\n"
        "      - eval_time: 3m\n"
        "        alertname: BindguardUnprotectedListener\n"
        "        exp_alerts:\n"
        "          - exp_labels:\n" + labels +
        "            exp_annotations:\n"
        "              summary: \"" + program + " on " + instance + " is exposed without the bindguard library\"\n"
        "              description: \"" + program + " holds " + address + " port " + port + "/" + proto +
        " and runs without the library. Start it with `bindguard run` or LD_PRELOAD; `bindguard run` says why a program "
        "cannot be protected.\"\n"
        "      - eval_time: 9m\n"
        "        alertname: BindguardAuditStale\n"
        "        exp_alerts: []\n";
    std::string path = bgtest::temp_dir() + "/from-audit.test.yml";
    bgtest::write_file(path, test);
    bgtest::Result tested = bgtest::run({"promtool", "test", "rules", path});
    EXPECT_EQ(tested.status, 0) << tested.out << tested.err << test;
}

}  // namespace
