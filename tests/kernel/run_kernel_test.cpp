// `bindguard run --kernel` and `bindguard kernel status|unload`, driven as an operator
// would: real programs (a static binary, raw system calls, io_uring, Caddy) in private
// network namespaces, checked by what the sockets end on and who can connect to them.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernel/kernel_support.hpp"
#include "support/log_line.hpp"
#include "support/process.hpp"
#include "support/text.hpp"

namespace {

using bgtest::Fields;
using bgtest::Result;

class RunKernel : public ::testing::Test {
protected:
    void SetUp() override {
        BGTEST_REQUIRE_KERNEL();
        install_.emplace();
    }
    void TearDown() override { install_.reset(); }

    // `bindguard run --kernel --policy POLICY -- unshare -n sh -c 'ip link set lo up && SCRIPT'`:
    // COMMAND joins its cgroup first, then gets a private network namespace.
    Result run_in_private_netns(const std::string& script, const std::string& policy = bgtest::default_policy(),
                                const std::vector<std::string>& extra = {}) {
        return bgtest::run(in_private_netns(script, policy, extra));
    }
    static std::vector<std::string> in_private_netns(const std::string& script, const std::string& policy,
                                                     const std::vector<std::string>& extra = {}) {
        std::vector<std::string> argv = {bgtest::cli_path(), "run", "--kernel", "--policy", policy};
        argv.insert(argv.end(), extra.begin(), extra.end());
        for (const char* word : {"--", "unshare", "-n", "sh", "-c"}) argv.push_back(word);
        argv.push_back("ip link set lo up && " + script);
        return argv;
    }

    // The fields of the first line of out that starts with prefix ("" for the first line).
    static Fields line_fields(const std::string& out, const std::string& prefix = "") {
        for (const std::string& line : bgtest::lines(out))
            if (line.starts_with(prefix)) return bgtest::fields(line.substr(prefix.size()));
        return {};
    }

    // Every cgroup of the run is gone once its processes are (the reaper's work).
    void expect_cgroups_removed() {
        EXPECT_TRUE(install_->wait_until_no_cgroups()) << "cgroups left: " << install_->cgroups().size();
    }

    std::optional<bgtest::KernelInstall> install_;
};

std::string static_helper() { return bgtest::bin_path("bg-bindtest-static"); }

TEST_F(RunKernel, StaticBinaryBindingTheWildcardEndsOnLoopback) {
    Result r = run_in_private_netns(static_helper() + " bind tcp 0.0.0.0:3000 listen");
    ASSERT_EQ(r.status, 0) << r.err;
    Fields f = line_fields(r.out);
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["listening"], "1");
    EXPECT_EQ(f["local"], "127.0.0.1:3000");
    expect_cgroups_removed();
}

TEST_F(RunKernel, RawSyscallInstructionIsRewritten) {
    Result r = run_in_private_netns(static_helper() + " raw-bind 0.0.0.0:3001");
    ASSERT_EQ(r.status, 0) << r.err;
    Fields f = line_fields(r.out);
    EXPECT_EQ(f["listening"], "1");
    EXPECT_EQ(f["local"], "127.0.0.1:3001");
}

TEST_F(RunKernel, IoUringBindAndListenAreRewritten) {
    Result r = run_in_private_netns(bgtest::bin_path("bg-uring") + " 0.0.0.0:3002");
    // Only when the kernel itself says it has no such opcode (IORING_REGISTER_PROBE); a
    // request it knows and refuses fails the test.
    if (r.status == 3) GTEST_SKIP() << "this kernel has no IORING_OP_BIND (Linux 6.11+): " << r.out;
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    Fields f = line_fields(r.out);
    EXPECT_EQ(f["bind_res"], "0");
    EXPECT_EQ(f["listen_res"], "0");
    EXPECT_EQ(f["listening"], "1");
    EXPECT_EQ(f["local"], "127.0.0.1:3002");
}

TEST_F(RunKernel, ChildrenGrandchildrenAndDaemonsAreCovered) {
    // A daemon: its own session (setsid -f), detached from the command, writing to a file.
    const std::string daemon_out = bgtest::temp_dir() + "/daemon.out";
    Result r = run_in_private_netns(static_helper() + " fork 0.0.0.0:3003 && sh -c '(" + static_helper() +
                                    " bind tcp 0.0.0.0:3004 | sed s/^/grandchild\\ /) & wait' && setsid -f sh -c '" +
                                    static_helper() + " bind tcp 0.0.0.0:3005 > " + daemon_out + ".tmp && mv " +
                                    daemon_out + ".tmp " + daemon_out + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(line_fields(r.out, "child ")["local"], "127.0.0.1:3003") << r.out;
    EXPECT_EQ(line_fields(r.out, "ret=")["local"], "127.0.0.1:3003") << r.out;
    EXPECT_EQ(line_fields(r.out, "grandchild ")["local"], "127.0.0.1:3004") << r.out;
    for (int i = 0; i < 100 && !std::filesystem::exists(daemon_out); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(line_fields(bgtest::read_file(daemon_out))["local"], "127.0.0.1:3005");
    expect_cgroups_removed();
}

TEST_F(RunKernel, DenyGivesEacces) {
    const std::string policy = bgtest::write_policy("version = 1\n[default]\naction = \"deny\"\n");
    Result r = run_in_private_netns(static_helper() + " bind tcp 0.0.0.0:3005; " + static_helper() +
                                        " bind tcp 127.0.0.1:3005",
                                    policy);
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::string> out = bgtest::lines(r.out);
    ASSERT_EQ(out.size(), 2u) << r.out;
    EXPECT_EQ(bgtest::fields(out[0])["ret"], "-1");
    EXPECT_EQ(bgtest::fields(out[0])["errno"], "13");  // EACCES, as the library gives
    EXPECT_EQ(bgtest::fields(out[1])["local"], "127.0.0.1:3005");
}

// bind(AF_UNSPEC) on an AF_INET socket is the kernel's other spelling of 0.0.0.0 (row 14).
// A hook cannot change the family, so the twin cannot rewrite it: it refuses it with
// EACCES and logs a deny (a rewrite would end in EAFNOSUPPORT under a log line saying
// "rewrite"). The same policy still rewrites the ordinary wildcard.
TEST_F(RunKernel, AnAfUnspecWildcardBindIsRefusedWhereItCannotBeRewritten) {
    Result r = run_in_private_netns(static_helper() + " bind-family 0; " + static_helper() + " bind tcp 0.0.0.0:3006");
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::string> out = bgtest::lines(r.out);
    ASSERT_EQ(out.size(), 2u) << r.out;
    EXPECT_EQ(bgtest::fields(out[0])["ret"], "-1") << r.out;
    EXPECT_EQ(bgtest::fields(out[0])["errno"], "13") << r.out;
    EXPECT_EQ(bgtest::fields(out[1])["local"], "127.0.0.1:3006") << r.out;
    EXPECT_NE(r.err.find(": deny tcp 0.0.0.0:0 -> EACCES rule=default"), std::string::npos) << r.err;
}

TEST_F(RunKernel, UdpClientSocketsLoopbackAndDualStack) {
    Result r = run_in_private_netns(static_helper() + " bind udp 0.0.0.0:0; " + static_helper() +
                                    " bind tcp 127.0.0.5:3006; " + static_helper() + " bind tcp [::]:3007 v6only=0; " +
                                    static_helper() + " bind tcp [::]:3008 v6only=1; " + static_helper() +
                                    " bind udp 0.0.0.0:3009");
    ASSERT_EQ(r.status, 0) << r.err;
    std::vector<std::string> out = bgtest::lines(r.out);
    ASSERT_EQ(out.size(), 5u) << r.out;
    EXPECT_TRUE(bgtest::fields(out[0])["local"].starts_with("0.0.0.0:")) << out[0];  // a UDP client, untouched
    EXPECT_NE(bgtest::fields(out[0])["local"], "0.0.0.0:0") << out[0];
    EXPECT_EQ(bgtest::fields(out[1])["local"], "127.0.0.5:3006");                  // loopback unchanged
    EXPECT_EQ(bgtest::fields(out[2])["local"], "[::ffff:127.0.0.1]:3007");         // dual-stack '::'
    EXPECT_EQ(bgtest::fields(out[3])["local"], "[::1]:3008");                      // IPV6_V6ONLY '::'
    EXPECT_EQ(bgtest::fields(out[4])["local"], "127.0.0.1:3009");                  // a UDP server
}

TEST_F(RunKernel, AProcessOutsideTheCgroupIsUntouched) {
    // A protected process holds its socket while an unprotected one binds the wildcard.
    auto held = bgtest::Process::start({bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(),
                                        "--", "unshare", "-n", static_helper(), "bind", "tcp", "0.0.0.0:3010", "hold"});
    for (int i = 0; i < 100 && held.out_so_far().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(line_fields(held.out_so_far())["local"], "127.0.0.1:3010") << held.err_so_far();
    Result outside = bgtest::run({"unshare", "-n", static_helper(), "bind", "tcp", "0.0.0.0:3011"});
    EXPECT_EQ(line_fields(outside.out)["local"], "0.0.0.0:3011");
    held.stop();
    expect_cgroups_removed();
}

// Connects from namespace ns to ADDRESS:PORT. Returns true when the connection is accepted.
bool can_connect(const std::string& ns, const std::string& address, const std::string& port) {
    Result r = bgtest::run({"ip", "netns", "exec", ns, "timeout", "3", "bash", "-c",
                            "exec 3<>/dev/tcp/" + address + "/" + port});
    return r.status == 0;
}

TEST_F(RunKernel, ListenOnANeverBoundSocketIsConfinedToLoopback) {
    bgtest::NetPair net;
    auto start_listener = [&](bool protect) {
        std::vector<std::string> argv;
        if (protect)
            argv = {bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(), "--"};
        for (const std::string& word : {std::string("ip"), std::string("netns"), std::string("exec"), net.server.name(),
                                        static_helper(), std::string("listen-unbound"), std::string("tcp"),
                                        std::string("hold")})
            argv.push_back(word);
        auto p = bgtest::Process::start(argv);
        for (int i = 0; i < 100 && p.out_so_far().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        return p;
    };
    // Unprotected, the auto-bound listener is reachable from the other namespace: the check can fail.
    auto open = start_listener(false);
    const std::string open_local = line_fields(open.out_so_far())["local"];
    ASSERT_TRUE(open_local.starts_with("0.0.0.0:")) << open.out_so_far() << open.err_so_far();
    EXPECT_TRUE(can_connect(net.client.name(), bgtest::NetPair::kServerAddress, open_local.substr(8)));
    open.stop();

    auto confined = start_listener(true);
    const Fields f = line_fields(confined.out_so_far());
    ASSERT_EQ(f.count("local"), 1u) << confined.out_so_far() << confined.err_so_far();
    EXPECT_EQ(f.at("listening"), "1");
    const std::string port = f.at("local").substr(f.at("local").rfind(':') + 1);
    EXPECT_FALSE(can_connect(net.client.name(), bgtest::NetPair::kServerAddress, port)) << "reachable remotely";
    EXPECT_TRUE(can_connect(net.server.name(), "127.0.0.1", port)) << "not reachable on loopback";
    confined.stop();
    expect_cgroups_removed();
}

// The local address column of one line of `ss -Hltn` ("LISTEN 0 4096 127.0.0.1:80 0.0.0.0:*").
std::string ss_local_address(const std::string& line) {
    std::istringstream words(line);
    std::string state, receive, send, local;
    words >> state >> receive >> send >> local;
    return local;
}

TEST_F(RunKernel, CaddyRespondOnTheWildcardEndsOnLoopbackOnly) {
    // scripts/setup installs Caddy: without it the test fails, it is not skipped.
    ASSERT_EQ(bgtest::run({"sh", "-c", "command -v caddy"}).status, 0) << "caddy is not installed: run scripts/setup";
    bgtest::NetPair net;
    const std::string home = bgtest::temp_dir();
    auto caddy = bgtest::Process::start(
        {bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(), "--service", "demo", "--", "ip",
         "netns", "exec", net.server.name(), "caddy", "respond", "--listen", "0.0.0.0:8099", "--body", "protected"},
        {"HOME=" + home, "XDG_CONFIG_HOME=" + home, "XDG_DATA_HOME=" + home});
    bool listening = false;
    for (int i = 0; i < 200 && !listening; ++i) {
        listening = bgtest::run({"ip", "netns", "exec", net.server.name(), "ss", "-Hltn", "sport = :8099"}).out.find(
                        "8099") != std::string::npos;
        if (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(listening) << caddy.err_so_far();
    // Go opens an IPv6 socket for "0.0.0.0" and binds [::ffff:0.0.0.0], which goes to
    // [::ffff:127.0.0.1], IPv4 loopback (row 5 of BINDING-CASES.md).
    Result ss = bgtest::run({"ip", "netns", "exec", net.server.name(), "ss", "-Hltn", "sport = :8099"});
    std::vector<std::string> listeners = bgtest::lines(ss.out);
    ASSERT_EQ(listeners.size(), 1u) << ss.out;
    const std::string local = ss_local_address(listeners[0]);
    EXPECT_TRUE(local == "127.0.0.1:8099" || local == "[::ffff:127.0.0.1]:8099") << ss.out;
    Result answer = bgtest::run({"ip", "netns", "exec", net.server.name(), "curl", "-s", "-m", "5", "http://127.0.0.1:8099/"});
    EXPECT_EQ(answer.out, "protected");
    EXPECT_FALSE(can_connect(net.client.name(), bgtest::NetPair::kServerAddress, "8099"));
    Result status = bgtest::run({bgtest::cli_path(), "kernel", "status"});
    EXPECT_NE(status.out.find("service=demo"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("attached: bind4 bind6 sockops"), std::string::npos) << status.out;
    caddy.stop();
    expect_cgroups_removed();
}

TEST_F(RunKernel, StatusAndUnload) {
    Result none = bgtest::run({bgtest::cli_path(), "kernel", "status"});
    EXPECT_EQ(none.status, 0);
    EXPECT_NE(none.out.find("not loaded"), std::string::npos) << none.out;

    auto held = bgtest::Process::start({bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(),
                                        "--service", "api", "--", "unshare", "-n", static_helper(), "bind", "tcp",
                                        "0.0.0.0:3012", "hold"});
    for (int i = 0; i < 100 && held.out_so_far().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_FALSE(held.out_so_far().empty()) << held.err_so_far();
    Result status = bgtest::run({bgtest::cli_path(), "kernel", "status"});
    EXPECT_EQ(status.status, 0);
    EXPECT_NE(status.out.find("programs: loaded, pinned under " + install_->names().pin_dir), std::string::npos)
        << status.out;
    EXPECT_NE(status.out.find("; this build)"), std::string::npos) << status.out;
    EXPECT_NE(status.out.find("1 processes; attached: bind4 bind6 sockops; service=api program=/usr/bin/unshare"),
              std::string::npos)
        << status.out;

    Result refused = bgtest::run({bgtest::cli_path(), "kernel", "unload"});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("still have processes"), std::string::npos) << refused.err;
    EXPECT_TRUE(std::filesystem::exists(install_->names().pin_dir + "/prog_bind4"));

    held.stop();
    expect_cgroups_removed();
    Result unloaded = bgtest::run({bgtest::cli_path(), "kernel", "unload"});
    EXPECT_EQ(unloaded.status, 0) << unloaded.err;
    EXPECT_FALSE(std::filesystem::exists(install_->names().pin_dir));
    EXPECT_FALSE(std::filesystem::exists(install_->names().cgroup_subtree));
}

TEST_F(RunKernel, WhatCannotBeSetUpRefusesWith126AndNothingRuns) {
    // A rule set too large for the kernel programs: 20 addresses x 20 ports.
    const std::string policy = bgtest::write_policy(bgtest::too_large_policy_text());
    const std::string marker = bgtest::temp_dir() + "/started";
    Result big = bgtest::run({bgtest::cli_path(), "run", "--kernel", "--policy", policy, "--", "touch", marker});
    EXPECT_EQ(big.status, 126);
    EXPECT_NE(big.err.find("400 kernel entries"), std::string::npos) << big.err;
    EXPECT_FALSE(std::filesystem::exists(marker));

    // Not root: nothing can be loaded or attached.
    Result unprivileged = bgtest::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                       bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(), "--",
                                       "touch", marker});
    EXPECT_EQ(unprivileged.status, 126) << unprivileged.err;
    EXPECT_NE(unprivileged.err.find("cannot set up the kernel twin"), std::string::npos) << unprivileged.err;
    EXPECT_FALSE(std::filesystem::exists(marker));
    expect_cgroups_removed();
}

}  // namespace

namespace {

TEST_F(RunKernel, LogsTheKernelsDecisionsInTheLibrarysTextFormat) {
    Result r = run_in_private_netns(static_helper() + " bind tcp 0.0.0.0:3020 && " + static_helper() +
                                        " bind tcp 127.0.0.1:3021",
                                    bgtest::default_policy(), {"--service", "web"});
    ASSERT_EQ(r.status, 0) << r.err;
    // The relay writes to the command's stderr; it holds it until the cgroup is empty, so
    // everything is in r.err once the run has ended.
    std::vector<std::string> logged;
    for (const std::string& line : bgtest::lines(r.err))
        if (line.find("call=kernel") != std::string::npos) logged.push_back(line);
    ASSERT_EQ(logged.size(), 1u) << r.err;  // loopback is allowed without a word at level info
    EXPECT_NE(logged[0].find("]: rewrite tcp 0.0.0.0:3020 -> 127.0.0.1:3020 rule=default program="), std::string::npos)
        << logged[0];
    EXPECT_TRUE(logged[0].starts_with("bindguard[")) << logged[0];
    EXPECT_TRUE(logged[0].ends_with(" service=web call=kernel")) << logged[0];
}

TEST_F(RunKernel, AuditModeChangesNothingAndLogsJsonToTheFile) {
    const std::string log = bgtest::temp_dir() + "/kernel.log";
    const std::string policy = bgtest::write_policy("version = 1\nmode = \"audit\"\n[log]\nto = \"file\"\npath = \"" + log +
                                                    "\"\nformat = \"json\"\n");
    Result r = run_in_private_netns(static_helper() + " bind tcp 0.0.0.0:3022", policy);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(line_fields(r.out)["local"], "0.0.0.0:3022");  // audit: nothing changed
    expect_cgroups_removed();                                  // the relay has finished
    const std::string text = bgtest::read_file(log);
    std::vector<std::string> logged = bgtest::lines(text);
    ASSERT_EQ(logged.size(), 1u) << text;
    for (const char* part : {"\"action\":\"would-rewrite\"", "\"call\":\"kernel\"", "\"requested\":\"0.0.0.0:3022\"",
                             "\"result\":\"0.0.0.0:3022\"", "\"rule\":\"default\"", "\"mode\":\"audit\"",
                             "\"proto\":\"tcp\"", "\"errno\":0"})
        EXPECT_NE(logged[0].find(part), std::string::npos) << part << " in " << logged[0];
}

}  // namespace

namespace {

// A log sink nobody reads (a pipe whose reader does not read: here a FIFO that is the
// command's stderr, opened for reading and writing, so that nothing blocks in open()) must
// not hold a bind: the program's 10,000 binds all complete; the cgroup's ring buffer
// fills, and what it cannot take is dropped and counted, in `kernel status` and, once
// the sink is read, in one line of the log.
TEST_F(RunKernel, AFullRingBufferDropsAndCountsDecisionsAndNeverHoldsABind) {
    const std::string fifo = bgtest::temp_dir() + "/kernel.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string policy = bgtest::write_policy("version = 1\n[log]\nrate = 0\n");
    // Not bgtest::run(): the relay holds the command's stderr (its sink) until it ends, and
    // it cannot end before the FIFO is read. The program's own end is what counts.
    std::vector<std::string> argv = {"sh", "-c", "exec 2<>\"$0\"; exec \"$@\"", fifo};
    for (std::string& word : in_private_netns(static_helper() + " repeat 10000 0.0.0.0:0", policy, {"--service", "web"}))
        argv.push_back(std::move(word));
    auto program = bgtest::Process::start(argv);
    for (int i = 0; i < 600 && program.running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_FALSE(program.running()) << "the binds did not complete while nobody read the log";
    Result r = program.stop();
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("binds=10000 failures=0"), std::string::npos) << r.out;

    Result status = bgtest::run({bgtest::cli_path(), "kernel", "status"});
    unsigned long long reported = 0, dropped = 0;
    for (const std::string& line : bgtest::lines(status.out))
        if (line.starts_with("events: ")) std::sscanf(line.c_str(), "events: %llu reported, %llu dropped", &reported, &dropped);
    EXPECT_GT(dropped, 0u) << status.out;
    EXPECT_EQ(reported + dropped, 10000u) << status.out;
    // The cgroup is empty but its reaper is still relaying: it stays, with its count.
    EXPECT_NE(status.out.find(", " + std::to_string(dropped) + " events dropped"), std::string::npos) << status.out;

    Result read = bgtest::run({"timeout", "30", "cat", fifo});
    ASSERT_EQ(read.status, 0) << read.err;
    std::size_t decisions = 0;
    std::vector<std::string> lost;
    for (const std::string& line : bgtest::lines(read.out)) {
        if (line.find("rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0 rule=default") != std::string::npos) ++decisions;
        if (line.starts_with("bindguard: ") && line.find("not logged") != std::string::npos) lost.push_back(line);
    }
    EXPECT_EQ(decisions, reported);
    ASSERT_EQ(lost.size(), 1u) << read.out.substr(read.out.size() > 2000 ? read.out.size() - 2000 : 0);
    EXPECT_EQ(lost[0], "bindguard: " + std::to_string(dropped) +
                           " kernel decisions not logged (the event ring buffer was full) service=web call=kernel");
    expect_cgroups_removed();
}

// log.rate holds lines back as the library does: in JSON, the next line written says how
// many with "suppressed" (a line of text would break a JSON log).
TEST_F(RunKernel, RateLimitedJsonLinesCarryTheSuppressedCount) {
    const std::string log = bgtest::temp_dir() + "/rate.log";
    const std::string policy = bgtest::write_policy("version = 1\n[log]\nto = \"file\"\npath = \"" + log +
                                                    "\"\nformat = \"json\"\nrate = 3\n");
    Result r = run_in_private_netns(static_helper() + " repeat 10 0.0.0.0:0 pause=1500 again=1", policy);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_cgroups_removed();  // the relay has finished
    const std::vector<std::string> logged = bgtest::lines(bgtest::read_file(log));
    ASSERT_GE(logged.size(), 2u);
    for (const std::string& line : logged) EXPECT_TRUE(nlohmann::json::accept(line)) << line;
    const nlohmann::json last = nlohmann::json::parse(logged.back());
    ASSERT_TRUE(last.contains("suppressed")) << logged.back();
    EXPECT_EQ(logged.size() - 1 + last["suppressed"].get<std::size_t>(), 10u) << logged.back();
}

TEST_F(RunKernel, AuditSaysTheOwnerIsProtectedByTheKernel) {
    auto held = bgtest::Process::start({bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(),
                                        "--", "unshare", "-n", static_helper(), "bind", "tcp", "0.0.0.0:3040",
                                        "listen", "hold"});
    for (int i = 0; i < 100 && held.out_so_far().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(line_fields(held.out_so_far())["local"], "127.0.0.1:3040") << held.err_so_far();
    // unshare execs the helper in place, so the held pid owns the socket; audit its namespace.
    const std::string netns = "--net=/proc/" + std::to_string(held.pid()) + "/ns/net";
    Result json = bgtest::run({"nsenter", netns, bgtest::cli_path(), "audit", "--json", "--policy", bgtest::default_policy()});
    EXPECT_EQ(json.status, 0) << json.out << json.err;
    const nlohmann::json document = nlohmann::json::parse(json.out);
    ASSERT_EQ(document["sockets"].size(), 1u) << json.out;
    const nlohmann::json& socket = document["sockets"][0];
    EXPECT_EQ(socket["local"], "127.0.0.1:3040");
    EXPECT_EQ(socket["verdict"], "ok");
    EXPECT_EQ(socket["protected"], true);
    EXPECT_EQ(socket["protected_by"], nlohmann::json::array({"kernel"}));
    Result table = bgtest::run({"nsenter", netns, bgtest::cli_path(), "audit", "--policy", bgtest::default_policy()});
    EXPECT_NE(table.out.find("yes (kernel)"), std::string::npos) << table.out;
    held.stop();
    expect_cgroups_removed();
}

}  // namespace

namespace {

TEST_F(RunKernel, AnInvalidPolicyOrNameIsRefusedAndNothingRuns) {
    const std::string marker = bgtest::temp_dir() + "/started";
    const std::string policy = bgtest::write_policy("version = 1\n[default]\naction = \"open\"\n");
    Result invalid = bgtest::run({bgtest::cli_path(), "run", "--kernel", "--policy", policy, "--", "touch", marker});
    EXPECT_EQ(invalid.status, 2);  // as `run` without --kernel (row 20)
    EXPECT_NE(invalid.err.find(policy + ":3:"), std::string::npos) << invalid.err;
    Result bad_name = bgtest::run({bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(), "--",
                                   "touch", marker},
                                  {"BINDGUARD_KERNEL_NAME=../escape"});
    EXPECT_EQ(bad_name.status, 126);
    EXPECT_NE(bad_name.err.find("BINDGUARD_KERNEL_NAME \"../escape\" is not a plain name"), std::string::npos)
        << bad_name.err;
    EXPECT_FALSE(std::filesystem::exists(marker));
    EXPECT_FALSE(std::filesystem::exists("/sys/fs/bpf/escape"));
}

}  // namespace

namespace {

// The pids of the reapers of this installation: forks of the command (same command line)
// that live outside the protected cgroups.
std::vector<int> reapers(const std::string& install_name) {
    std::vector<int> pids;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename().string();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::string cmdline = bgtest::read_file(entry.path().string() + "/cmdline");
        std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
        std::string environ = bgtest::read_file(entry.path().string() + "/environ");
        if (cmdline.starts_with(bgtest::cli_path() + " run --kernel") &&
            environ.find("BINDGUARD_KERNEL_NAME=" + install_name + '\0') != std::string::npos)
            pids.push_back(std::stoi(name));
    }
    return pids;
}

TEST_F(RunKernel, WhatAKilledReaperLeftIsRemovedByTheNextCommand) {
    auto held = bgtest::Process::start({bgtest::cli_path(), "run", "--kernel", "--policy", bgtest::default_policy(),
                                        "--", "unshare", "-n", static_helper(), "bind", "tcp", "0.0.0.0:3050", "hold"});
    for (int i = 0; i < 100 && held.out_so_far().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(line_fields(held.out_so_far())["local"], "127.0.0.1:3050") << held.err_so_far();
    const std::vector<int> found = reapers(install_->names().name);
    ASSERT_EQ(found.size(), 1u);
    ::kill(found[0], SIGKILL);
    held.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(install_->cgroups().size(), 1u) << "the cgroup should have been left behind";
    Result status = bgtest::run({bgtest::cli_path(), "kernel", "status"});  // sweeps first
    EXPECT_EQ(status.status, 0);
    EXPECT_NE(status.out.find("cgroups: none protected"), std::string::npos) << status.out;
    EXPECT_TRUE(install_->cgroups().empty());
}

}  // namespace

namespace {

// A service name that looks like more fields: both writers escape it the same way.
constexpr const char* kForgingService = "api rule=proxy-web program=/usr/bin/caddy";

// The line the library writes for a bind of the dynamic helper (command(SCRIPT, false))
// and the line the kernel's relay writes for the same bind of the static one
// (command(SCRIPT, true)): the first line of each (stderr, or the log file when given)
// that reports the bind.
std::pair<std::string, std::string> library_and_kernel_lines(
    const std::string& log, const std::function<std::vector<std::string>(const std::string&, bool)>& command) {
    auto first_line = [&](const Result& r) {
        const std::string text = log.empty() ? r.err : bgtest::read_file(log);
        for (const std::string& line : bgtest::lines(text))
            if (line.find("3040") != std::string::npos) return line;
        return std::string();
    };
    Result library = bgtest::run(command(bgtest::bin_path("bg-bindtest") + " bind tcp 0.0.0.0:3040", false));
    EXPECT_EQ(library.status, 0) << library.err;
    std::string library_line = first_line(library);
    if (!log.empty()) std::filesystem::remove(log);
    Result kernel = bgtest::run(command(bgtest::bin_path("bg-bindtest-static") + " bind tcp 0.0.0.0:3040", true));
    EXPECT_EQ(kernel.status, 0) << kernel.err;
    return {library_line, first_line(kernel)};
}

}  // namespace

namespace {

// `bindguard run [--kernel] --service kForgingService -- HELPER ARGS` (script is "HELPER
// ARGS", words without quotes) in a private network namespace. The helper is the command
// itself, so that the kernel's relay names it even when it has exited before its event is read.
std::vector<std::string> run_command(const std::string& script, const std::string& policy, bool kernel) {
    std::string line = "ip link set lo up && exec " + bgtest::cli_path() + " run " + (kernel ? "--kernel " : "") +
                       "--policy '" + policy + "' --service '" + kForgingService + "' -- " + script;
    return {"unshare", "-n", "sh", "-c", line};
}

TEST_F(RunKernel, TheLibraryAndTheKernelWriteTheSameTextLineForTheSameBind) {
    const std::string policy = bgtest::default_policy();
    auto [library, kernel] = library_and_kernel_lines(
        "", [&](const std::string& script, bool k) { return run_command(script, policy, k); });
    expect_cgroups_removed();
    const auto from_library = bgtest::parse_text_log_line(library);
    const auto from_kernel = bgtest::parse_text_log_line(kernel);
    ASSERT_TRUE(from_library) << library;
    ASSERT_TRUE(from_kernel) << kernel;
    EXPECT_EQ(from_library->words, from_kernel->words) << library << "\n" << kernel;
    EXPECT_EQ(from_kernel->words, (std::vector<std::string>{"rewrite", "tcp", "0.0.0.0:3040", "->", "127.0.0.1:3040"}));
    // Field by field, in the same order: the same but for call= (the kernel's only) and
    // the program (each run has its own helper).
    std::vector<std::pair<std::string, std::string>> expected = from_library->fields;
    expected.emplace_back("call", "kernel");
    ASSERT_EQ(from_kernel->fields.size(), expected.size()) << library << "\n" << kernel;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(from_kernel->fields[i].first, expected[i].first) << kernel;
        if (expected[i].first == "program") continue;
        EXPECT_EQ(from_kernel->fields[i].second, expected[i].second) << expected[i].first << " in " << kernel;
    }
    EXPECT_EQ(from_library->field("service"), kForgingService);
    EXPECT_EQ(from_library->field("rule"), "default");
    EXPECT_EQ(from_library->field("program"), bgtest::bin_path("bg-bindtest"));
    EXPECT_EQ(from_kernel->field("program"), bgtest::bin_path("bg-bindtest-static"));
}

TEST_F(RunKernel, TheLibraryAndTheKernelWriteTheSameJsonLineForTheSameBind) {
    const std::string dir = bgtest::temp_dir();
    const std::string log = dir + "/same.log";
    const std::string policy =
        bgtest::write_policy("version = 1\n[log]\nto = \"file\"\npath = \"" + log + "\"\nformat = \"json\"\n");
    ::umask(022);
    auto [library, kernel] = library_and_kernel_lines(
        log, [&](const std::string& script, bool k) { return run_command(script, policy, k); });
    expect_cgroups_removed();
    // The relay made the log file as the library does: 0640.
    struct stat status {};
    ASSERT_EQ(::stat(log.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 0777, 0640u);
    const auto from_library = nlohmann::json::parse(library, nullptr, false);
    const auto from_kernel = nlohmann::json::parse(kernel, nullptr, false);
    ASSERT_TRUE(from_library.is_object()) << library;
    ASSERT_TRUE(from_kernel.is_object()) << kernel;
    std::vector<std::string> library_keys, kernel_keys;
    for (const auto& [key, value] : from_library.items()) library_keys.push_back(key);
    for (const auto& [key, value] : from_kernel.items()) kernel_keys.push_back(key);
    EXPECT_EQ(library_keys, kernel_keys) << library << "\n" << kernel;
    for (const auto& [key, value] : from_library.items()) {
        if (key == "ts" || key == "pid" || key == "program" || key == "call") continue;
        EXPECT_EQ(from_kernel.value(key, nlohmann::json()), value) << key << " in " << kernel;
    }
    EXPECT_EQ(from_library["call"], "bind");
    EXPECT_EQ(from_kernel["call"], "kernel");
    EXPECT_EQ(from_kernel["service"], kForgingService);
    EXPECT_EQ(from_kernel["program"], bgtest::bin_path("bg-bindtest-static"));
}

// log.path a FIFO: the relay refuses it without blocking in open() (as the library
// does), logs to stderr instead, and the run ends with its cgroup removed.
TEST_F(RunKernel, AFifoAsTheLogFileIsRefusedWithoutBlocking) {
    const std::string fifo = bgtest::temp_dir() + "/log.fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string policy = bgtest::write_policy("version = 1\n[log]\nto = \"file\"\npath = \"" + fifo + "\"\n");
    std::vector<std::string> argv = {"timeout", "60"};
    for (std::string& word : in_private_netns(static_helper() + " bind tcp 0.0.0.0:3041", policy, {"--service", "web"}))
        argv.push_back(std::move(word));
    Result r = bgtest::run(argv);
    ASSERT_EQ(r.status, 0) << r.err;  // 124 from timeout: it hung
    EXPECT_EQ(line_fields(r.out)["local"], "127.0.0.1:3041");
    EXPECT_NE(r.err.find("bindguard: error: cannot open the log file " + fifo +
                         ": it is a FIFO, not a regular file; logging the kernel's decisions to stderr instead"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("rewrite tcp 0.0.0.0:3041 -> 127.0.0.1:3041 rule=default"), std::string::npos) << r.err;
    expect_cgroups_removed();
    EXPECT_TRUE(std::filesystem::is_fifo(fifo));
}

}  // namespace

namespace {

// log.to = "syslog": the relay sends each line as one datagram to /dev/log with the
// library's facility (daemon: <30> is daemon.info). /dev is a private tmpfs in a private
// mount namespace, where a receiver of the test's own owns /dev/log.
TEST_F(RunKernel, SyslogLinesAreDatagramsWithTheLibrarysFacility) {
    const std::string receiver = bgtest::temp_dir() + "/receiver.py";
    bgtest::write_file(receiver,
                       "import socket, subprocess, sys\n"
                       "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                       "s.bind('/dev/log')\n"
                       "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
                       "print('status: %d' % p.returncode)\n"
                       "print('err: ' + p.stderr.replace('\\n', ' | '))\n"
                       "s.settimeout(5)\n"  // the relay outlives the run by a moment
                       "try:\n"
                       "    while True:\n"
                       "        line = s.recv(65536).decode()\n"
                       "        print('syslog: ' + line)\n"
                       "        s.settimeout(0.3)\n"
                       "except socket.timeout: pass\n");
    const std::string policy = bgtest::write_policy("version = 1\n[log]\nto = \"syslog\"\n");
    std::string command = "mount -t tmpfs bindguard-test /dev && exec /usr/bin/python3 \"$0\" \"$@\"";
    std::vector<std::string> argv = {"unshare", "-m", "sh", "-c", command, receiver};
    for (std::string& word : in_private_netns(static_helper() + " bind tcp 0.0.0.0:3042", policy, {"--service", "web"}))
        argv.push_back(std::move(word));
    Result r = bgtest::run(argv);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("status: 0\n"), std::string::npos) << r.out;
    std::vector<std::string> datagrams;
    for (const std::string& line : bgtest::lines(r.out))
        if (line.starts_with("syslog: ")) datagrams.push_back(line.substr(8));
    ASSERT_EQ(datagrams.size(), 1u) << r.out;
    EXPECT_TRUE(datagrams[0].starts_with("<30>bindguard[")) << datagrams[0];
    EXPECT_NE(datagrams[0].find("]: rewrite tcp 0.0.0.0:3042 -> 127.0.0.1:3042 rule=default program="),
              std::string::npos)
        << datagrams[0];
    EXPECT_TRUE(datagrams[0].ends_with(" service=web call=kernel")) << datagrams[0];
    expect_cgroups_removed();
}

}  // namespace
