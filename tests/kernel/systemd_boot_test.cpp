// `bindguard protect UNIT --kernel` under a real systemd: systemd booted as pid 1 of a
// throwaway container (systemd-nspawn --volatile=yes: a tmpfs root over the host's /usr,
// so nothing it writes outlives it; a private network namespace; a BPF filesystem of its
// own). A oneshot driver unit in it protects small units, starts and stops them with
// systemctl and writes what their real binds did into a directory of the test's, then
// exits the container. The container runs in a cgroup tree of the test's own (removed
// with everything in it, pass or fail), never under the host's other cgroups.
//
// Skipped, with the reason, only where the machine cannot run the kernel twin (not root, no
// cgroup v2, an old kernel). systemd-nspawn and systemd are installed by scripts/setup:
// without them, and when the BPF programs do not load, it fails.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernel/kernel_support.hpp"
#include "support/process.hpp"
#include "support/text.hpp"

namespace {

namespace k = bindguard::kernel;

// The default policy copied into dir, which the container sees (protect writes its
// compiled image beside it). Returns its path.
std::string container_policy(const std::string& dir) {
    const std::string policy = dir + "/policy.toml";
    std::filesystem::copy_file(bgtest::default_policy(), policy);
    return policy;
}
using bgtest::Result;

// The mount point of the v1 name=systemd hierarchy (a hybrid layout), or "" when there is none.
std::string name_systemd_mount() {
    std::ifstream in("/proc/self/mountinfo");
    for (std::string line; std::getline(in, line);) {
        const std::size_t dash = line.find(" - cgroup ");
        if (dash == std::string::npos || line.find("name=systemd", dash) == std::string::npos) continue;
        std::istringstream fields(line);
        std::string id, parent, device, root, mount_point;
        fields >> id >> parent >> device >> root >> mount_point;
        return mount_point;
    }
    return "";
}

// Fails the test when what scripts/setup installs to boot the container is missing.
::testing::AssertionResult boot_tools_installed() {
    for (const char* needed : {"/usr/bin/systemd-nspawn", "/lib/systemd/systemd"})
        if (::access(needed, X_OK) != 0)
            return ::testing::AssertionFailure()
                   << "no " << needed << " (Debian's systemd-container and systemd): run scripts/setup";
    return ::testing::AssertionSuccess();
}

// Runs a cleanup when the test ends, pass or fail.
struct AtExit {
    std::function<void()> run;
    ~AtExit() { run(); }
};

// Removes the v1 cgroup tree at path (a hybrid layout's name=systemd one): kills what is
// left in it, then removes its directories depth first.
void remove_v1_tree(const std::string& path) {
    for (int round = 0; round < 50 && !k::cgroup_tree_pids(path).empty(); ++round) {
        for (int pid : k::cgroup_tree_pids(path)) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    k::remove_cgroup(path);
}

// Removes what systemd-nspawn leaves under /run for the machine name: its propagation
// directory (unmounted first, in case nspawn was killed), and /run/systemd/nspawn and
// nspawn-root when they were not there before the test.
void remove_nspawn_state(const std::string& name, bool had_nspawn, bool had_nspawn_root) {
    const std::string propagate = "/run/systemd/nspawn/propagate/" + name;
    ::umount2(propagate.c_str(), MNT_DETACH);
    ::rmdir(propagate.c_str());
    if (!had_nspawn) {
        ::rmdir("/run/systemd/nspawn/propagate");
        ::rmdir("/run/systemd/nspawn");
    }
    if (!had_nspawn_root) ::rmdir("/run/systemd/nspawn-root");
}

// The value of key= in a line such as "ret=0 errno=0 local=127.0.0.1:3201" in file, or "".
std::string field_in(const std::string& file, const std::string& key) {
    if (!std::filesystem::exists(file)) return "";
    for (const std::string& line : bgtest::lines(bgtest::read_file(file)))
        if (line.starts_with("ret=")) return bgtest::fields(line)[key];
    return "";
}

// Boots the container: systemd as its pid 1 runs bgtest.target, whose driver runs
// DIR/driver.sh and then exits the container. unified: the container gets the unified
// cgroup hierarchy even on a hybrid host (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1), as on a
// Debian 12 host; else the host's layout. Returns what systemd-nspawn did.
Result boot(const std::string& dir, bool unified) {
    bgtest::write_file(dir + "/bgtest.target",
                       "[Unit]\nDefaultDependencies=no\nRequires=bgtest-driver.service\nAfter=bgtest-driver.service\n");
    bgtest::write_file(dir + "/bgtest-driver.service",
                       "[Unit]\nDefaultDependencies=no\nSuccessAction=exit-force\nFailureAction=exit-force\n"
                       "[Service]\nType=oneshot\nStandardOutput=append:" + dir + "/results/driver.log\nStandardError=append:" +
                           dir + "/results/driver.log\nExecStart=/bin/sh " + dir + "/driver.sh\n");
    const std::string cli = bgtest::cli_path();
    // The container's cgroups: a tree of the test's own in cgroup v2 (and in the v1
    // name=systemd hierarchy of a hybrid layout), which systemd-nspawn --keep-unit uses.
    // Destroyed in reverse order: the /run state, the v1 tree, then the v2 tree (killing
    // whatever is left of the container when nspawn itself had to be killed).
    bgtest::TestCgroupTree tree("bgtest-systemd");
    const std::string name = tree.path().substr(tree.path().rfind('/') + 1);
    const std::string v1 = name_systemd_mount(), v1_tree = v1.empty() ? "" : v1 + "/" + name;
    if (!v1.empty() && ::mkdir(v1_tree.c_str(), 0755) != 0) {
        Result failed;
        failed.status = -1;
        failed.err = "cannot make " + v1_tree;
        return failed;
    }
    AtExit v1_removed{[&] {
        if (!v1_tree.empty()) remove_v1_tree(v1_tree);
    }};
    const bool had_nspawn = std::filesystem::exists("/run/systemd/nspawn"),
               had_nspawn_root = std::filesystem::exists("/run/systemd/nspawn-root");
    AtExit run_state_removed{[&] { remove_nspawn_state(name, had_nspawn, had_nspawn_root); }};

    std::string join = "echo $$ > " + tree.path() + "/cgroup.procs";
    if (!v1.empty()) join += " && echo $$ > " + v1_tree + "/cgroup.procs";
    std::string binds_ro = " --bind-ro=" + bgtest::source_dir();
    const std::string build = std::filesystem::path(cli).parent_path().string();
    if (!build.starts_with(bgtest::source_dir() + "/")) binds_ro += " --bind-ro=" + build;
    const std::string nspawn =
        "exec systemd-nspawn --quiet --register=no --keep-unit --machine=" + name +
        " --volatile=yes --directory=/ --private-network --capability=all --system-call-filter=bpf --tmpfs=/sys/fs/bpf" + binds_ro + " --bind=" + dir +
        " --bind-ro=" + dir + "/bgtest.target:/etc/systemd/system/bgtest.target --bind-ro=" + dir +
        "/bgtest-driver.service:/etc/systemd/system/bgtest-driver.service"
        " --bind-ro=/dev/null:/etc/systemd/system/systemd-firstboot.service --boot -- --unit=bgtest.target";
    std::vector<std::string> env;
    if (unified) env.push_back("SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1");
    return bgtest::run({"sh", "-c", join + " && " + nspawn}, env, std::chrono::seconds(90));
}

// Boots the container with the units, protects them (and, with_preload, a unit with
// `--kernel --with-preload` too), and checks what their binds did.
void boot_and_check(bool with_preload) {
    BGTEST_REQUIRE_KERNEL();
    ASSERT_TRUE(boot_tools_installed());
    const std::string dir = bgtest::temp_dir();
    const std::string results = dir + "/results";
    std::filesystem::create_directories(results);
    std::filesystem::create_directories(dir + "/units");
    const std::string cli = bgtest::cli_path(), helper = bgtest::bin_path("bg-bindtest-static");
    const std::string policy = container_policy(dir);
    const std::string bad_policy = dir + "/bad-policy.toml";
    std::filesystem::copy_file(policy, bad_policy);

    // The units. Each writes its commands' output (attach's and detach's too) to its log.
    auto unit = [&](const std::string& name, const std::string& body) {
        bgtest::write_file(dir + "/units/" + name + ".service", "[Service]\nStandardOutput=append:" + results + "/" + name +
                                                             ".log\nStandardError=append:" + results + "/" + name +
                                                             ".log\n" + body);
    };
    auto binds = [&](const std::string& address, const std::string& file, const std::string& more = "") {
        return "/bin/sh -c 'exec " + helper + " bind tcp " + address + " listen" + more + " > " + results + "/" + file +
               "'";
    };
    // Like Debian's nginx.service, whose `ExecStartPre=nginx -t` binds 0.0.0.0:80 and [::]:80.
    unit("demo", "ExecStartPre=" + binds("0.0.0.0:3201", "demo-pre.txt") + "\nExecStart=" +
                     binds("0.0.0.0:3202", "demo-start.txt", " hold") + "\n");
    // The same, with attach as the drop-in's ExecStartPre=+ (what `protect --kernel` wrote before).
    unit("old", "ExecStartPre=" + binds("0.0.0.0:3203", "old-pre.txt") + "\nExecStart=" +
                    binds("0.0.0.0:3204", "old-start.txt", " hold") + "\n");
    // KillMode=process: each start's waiter outlives the stop, then binds.
    unit("left", "KillMode=process\nExecStart=/bin/sh -c '(while [ ! -e " + results + "/go ]; do sleep 0.05; done; exec " +
                     helper + " bind tcp 0.0.0.0:0 >> " + results + "/left-late.txt) & exec sleep infinity'\n");
    // Its own ExecCondition= binds: systemd runs it before the drop-in's, unprotected (protect warns).
    unit("cond", "Type=oneshot\nExecCondition=" + binds("0.0.0.0:3207", "cond-condition.txt") + "\nExecStart=" +
                     binds("0.0.0.0:3208", "cond-start.txt") + "\n");
    // --kernel --with-preload: the library in the program too (and in attach's environment).
    unit("both", "Type=oneshot\nExecStart=/bin/sh -c 'exec " + bgtest::bin_path("bg-bindtest") +
                     " bind tcp 0.0.0.0:3206 > " + results + "/both-start.txt'\n");
    // A socket unit (systemd binds 0.0.0.0:3210 for it); its service is never started.
    bgtest::write_file(dir + "/units/hy.socket", "[Socket]\nListenStream=0.0.0.0:3210\nStandardOutput=append:" + results +
                                                     "/hy.log\nStandardError=append:" + results + "/hy.log\n");
    unit("hy", "ExecStart=/bin/sleep infinity\n");
    // Its policy turns invalid after `protect` checked it: attach fails, the unit must fail.
    unit("bad", "ExecStartPre=/bin/sh -c 'echo ran > " + results + "/bad-pre.txt'\nExecStart=/bin/sh -c 'echo ran > " +
                    results + "/bad-start.txt; exec sleep infinity'\n");

    const std::string driver =
        "set -u\n"
        "cd /\n"
        "cp " + dir + "/units/* /etc/systemd/system/\n"
        "for u in demo left cond; do " + cli + " protect $u --kernel --policy " + policy + " >> " + results +
        "/protect.txt 2>&1; done\n" +
        cli + " protect bad --kernel --policy " + bad_policy + " >> " + results + "/protect.txt 2>&1\n" +
        (with_preload ? cli + " protect both --kernel --with-preload --policy " + policy + " >> " + results +
                            "/protect.txt 2>&1\n"
                      : std::string()) +
        "mkdir -p /etc/systemd/system/old.service.d\n"
        "printf '[Service]\\nExecStartPre=+%s kernel attach --policy %s\\nExecStopPost=+%s kernel detach\\n' " + cli +
        " " + policy + " " + cli + " > /etc/systemd/system/old.service.d/bindguard.conf\n"
        "printf 'version = 1\\n[default]\\naction = \"open\"\\n' > " + bad_policy + "\n"
        "systemctl daemon-reload\n"
        "for u in demo old left bad cond " + (with_preload ? "both" : "") + "; do systemctl start $u.service; echo \"$u started: $?\" >> " + results +
        "/systemctl.txt; done\n"
        "for i in $(seq 100); do [ -s " + results + "/demo-start.txt ] && break; sleep 0.05; done\n"  // Type=simple
        "ss -ltnH > " + results + "/listeners.txt\n"
        // A socket unit, in this layout (hybrid on a hybrid host) too: systemd binds in its cgroup.
        "stat -fc %T /sys/fs/cgroup > " + results + "/layout.txt\n" +
        cli + " protect hy.socket --kernel --policy " + policy + " > " + results + "/hy-protect.txt 2>&1; "
        "echo \"hy protect: $?\" >> " + results + "/systemctl.txt\n"
        "systemctl daemon-reload\n"
        "systemctl start hy.socket; echo \"hy started: $?\" >> " + results + "/systemctl.txt\n"
        "ss -ltnH 'sport = :3210' > " + results + "/hy-listeners.txt\n"
        "echo \"hy: $(systemctl show -p ActiveState --value hy.socket) $(systemctl show -p Result --value hy.socket)\" >> " +
        results + "/systemctl.txt\n"
        "systemctl stop hy.socket\n" +
        cli + " kernel status > " + results + "/status.txt 2>&1\n"
        "systemctl stop demo.service old.service left.service\n"
        // left.service again, while the first start's waiter still runs in its cgroup.
        "systemctl start left.service\n"
        "touch " + results + "/go\n"
        "for i in $(seq 100); do [ \"$(grep -c ret= " + results + "/left-late.txt)\" = 2 ] && break; sleep 0.05; done\n"
        "systemctl stop left.service\n"
        "for u in demo left bad; do echo \"$u: $(systemctl show -p ActiveState --value $u) $(systemctl show -p Result "
        "--value $u)\" >> " + results + "/systemctl.txt; done\n" +
        "for i in $(seq 100); do " + cli + " kernel status > " + results + "/status-after.txt 2>&1; "
        "grep -q 'none protected' " + results + "/status-after.txt && break; sleep 0.05; done\n"
        "echo done > " + results + "/done\n"
        // Nothing may stall the container's shutdown (it waits for what is left).
        "systemctl kill --signal=SIGKILL demo.service old.service left.service bad.service 2>/dev/null\n";
    bgtest::write_file(dir + "/driver.sh", driver);
    Result booted = boot(dir, false);
    const std::string logs = "driver:\n" + (std::filesystem::exists(results + "/driver.log") ? bgtest::read_file(results + "/driver.log") : "") +
                             "\nnspawn:\n" + booted.out + booted.err;
    ASSERT_TRUE(std::filesystem::exists(results + "/done")) << "the driver did not finish (status " << booted.status
                                                            << ")\n" << logs;
    auto log = [&](const std::string& unit_name) {
        const std::string path = results + "/" + unit_name + ".log";
        return std::filesystem::exists(path) ? bgtest::read_file(path) : std::string();
    };
    const std::string systemctl = bgtest::read_file(results + "/systemctl.txt");
    const std::string protect = bgtest::read_file(results + "/protect.txt");

    // The vendor's ExecStartPre= and the ExecStart= both ended on loopback.
    EXPECT_EQ(field_in(results + "/demo-pre.txt", "local"), "127.0.0.1:3201") << log("demo") << protect;
    EXPECT_EQ(field_in(results + "/demo-start.txt", "local"), "127.0.0.1:3202") << log("demo");
    // `ss -ltnH`: State Recv-Q Send-Q Local Peer; the holds of demo's and old's ExecStart=.
    std::vector<std::string> listening;
    for (const std::string& line : bgtest::lines(bgtest::read_file(results + "/listeners.txt"))) {
        std::istringstream fields(line);
        std::string state, received, sent, local;
        if (fields >> state >> received >> sent >> local) listening.push_back(local);
    }
    std::sort(listening.begin(), listening.end());
    EXPECT_EQ(listening, (std::vector<std::string>{"127.0.0.1:3202", "127.0.0.1:3204"})) << logs;
    EXPECT_NE(log("demo").find("bindguard kernel attach: protecting the cgroup /sys/fs/cgroup"), std::string::npos)
        << log("demo");
    EXPECT_NE(log("demo").find("/system.slice/demo.service (service=demo "), std::string::npos) << log("demo");
    // With attach as a drop-in's ExecStartPre=+, the vendor's ran first, unprotected.
    EXPECT_EQ(field_in(results + "/old-pre.txt", "local"), "0.0.0.0:3203") << log("old");
    EXPECT_EQ(field_in(results + "/old-start.txt", "local"), "127.0.0.1:3204") << log("old");

    // KillMode=process: detach kept the programs for the waiter, whose later bind was rewritten.
    EXPECT_NE(log("left").find("bindguard kernel detach: kept on /sys/fs/cgroup"), std::string::npos) << log("left");
    EXPECT_NE(log("left").find("/system.slice/left.service: "), std::string::npos) << log("left");
    EXPECT_NE(log("left").find(" still run in it and would be left unprotected."), std::string::npos) << log("left");
    // Started again, attach found the programs still there and took them over; then both
    // waiters bound the wildcard (port 0) after their starts' stops: loopback.
    EXPECT_NE(log("left").find("; it was still attached (kept), its rule set is replaced\n"), std::string::npos)
        << log("left");
    const std::vector<std::string> late = bgtest::lines(bgtest::read_file(results + "/left-late.txt"));
    ASSERT_EQ(late.size(), 2u) << log("left");
    for (const std::string& line : late) EXPECT_TRUE(bgtest::fields(line)["local"].starts_with("127.0.0.1:")) << line;

    // A unit's own ExecCondition= runs before attach: unprotected, as protect warned.
    EXPECT_NE(protect.find("bindguard protect: warning: cond.service has its own ExecCondition=/bin/sh -c "),
              std::string::npos)
        << protect;
    EXPECT_EQ(field_in(results + "/cond-condition.txt", "local"), "0.0.0.0:3207") << log("cond");
    EXPECT_EQ(field_in(results + "/cond-start.txt", "local"), "127.0.0.1:3208") << log("cond");

    if (with_preload) {
        // The library rewrote the bind (and logged it); attach ran with LD_PRELOAD set too.
        EXPECT_NE(systemctl.find("both started: 0\n"), std::string::npos) << systemctl << log("both");
        EXPECT_EQ(field_in(results + "/both-start.txt", "local"), "127.0.0.1:3206") << log("both");
        EXPECT_NE(log("both").find("bindguard kernel attach: protecting the cgroup "), std::string::npos) << log("both");
        EXPECT_NE(log("both").find("rewrite tcp 0.0.0.0:3206 -> 127.0.0.1:3206 rule=default"), std::string::npos)
            << log("both");
    }

    // The socket unit: systemd bound its 0.0.0.0:3210 in the unit's cgroup, whichever cgroup
    // layout the container has (hybrid on a hybrid host): loopback.
    const std::string hy = bgtest::read_file(results + "/hy-protect.txt") + log("hy");
    EXPECT_NE(systemctl.find("hy protect: 0\n"), std::string::npos) << systemctl << hy;
    EXPECT_NE(systemctl.find("hy: active success\n"), std::string::npos) << systemctl << hy;
    EXPECT_NE(bgtest::read_file(results + "/hy-listeners.txt").find("127.0.0.1:3210 "), std::string::npos)
        << bgtest::read_file(results + "/layout.txt") << bgtest::read_file(results + "/hy-listeners.txt") << hy;
    EXPECT_NE(log("hy").find("bindguard kernel check-socket: hy.socket: no public listener"), std::string::npos) << hy;

    // The invalid policy: attach exits 255, the unit failed (not skipped), nothing of it ran.
    EXPECT_NE(systemctl.find("bad started: 1\n"), std::string::npos) << systemctl;
    EXPECT_NE(systemctl.find("bad: failed exit-code\n"), std::string::npos) << systemctl << log("bad");
    EXPECT_NE(log("bad").find("is invalid; nothing is attached and the unit must not start"), std::string::npos)
        << log("bad");
    EXPECT_FALSE(std::filesystem::exists(results + "/bad-pre.txt"));
    EXPECT_FALSE(std::filesystem::exists(results + "/bad-start.txt"));
    EXPECT_NE(systemctl.find("demo started: 0\n"), std::string::npos) << systemctl;
    EXPECT_NE(systemctl.find("demo: inactive success\n"), std::string::npos) << systemctl;
    EXPECT_NE(bgtest::read_file(results + "/status-after.txt").find("cgroups: none protected"), std::string::npos)
        << bgtest::read_file(results + "/status-after.txt");
}

TEST(SystemdBoot, ProtectKernelAttachesBeforeTheUnitsOwnExecStartPreAndKeepsWhatItLeavesBehind) {
    boot_and_check(false);
}

// Not in the asan build: its library needs the sanitizer runtime preloaded first, which the
// drop-in does not do (and must not: it is for a real build), so no build of that kind can
// run it; it has no such test rather than one that passes without the library.
#ifndef BGTEST_SANITIZED
TEST(SystemdBoot, ProtectKernelWithPreloadPutsTheLibraryInTheUnitToo) {
    boot_and_check(true);
}
#endif

// The lines of `ss -ltnH` output: the local addresses, sorted.
std::vector<std::string> listening_in(const std::string& file) {
    std::vector<std::string> listening;
    for (const std::string& line : bgtest::lines(bgtest::read_file(file))) {
        std::istringstream fields(line);
        std::string state, received, sent, local;
        if (fields >> state >> received >> sent >> local) listening.push_back(local);
    }
    std::sort(listening.begin(), listening.end());
    return listening;
}

TEST(SystemdBoot, ProtectSocketUnitKernelKeepsWhatSystemdBindsOnLoopback) {
    BGTEST_REQUIRE_KERNEL();
    ASSERT_TRUE(boot_tools_installed());
    const std::string dir = bgtest::temp_dir();
    const std::string results = dir + "/results";
    std::filesystem::create_directories(results);
    std::filesystem::create_directories(dir + "/units");
    const std::string cli = bgtest::cli_path();
    const std::string policy = container_policy(dir);
    const std::string bad_policy = dir + "/bad-policy.toml";
    std::filesystem::copy_file(policy, bad_policy);

    // A tiny socket-activated server: it never binds, it accepts on the socket systemd
    // passes as fd 3 and answers each connection with one line.
    bgtest::write_file(dir + "/server.py",
                       "import socket, sys\n"
                       "s = socket.socket(fileno=3)\n"
                       "open(sys.argv[1], 'w').write('local=%s\\n' % (s.getsockname(),))\n"
                       "while True:\n"
                       "    c, _ = s.accept()\n"
                       "    c.sendall(b'hello from fd 3\\n')\n"
                       "    c.close()\n");
    // NAME.socket listening on address, NAME.service the server.
    auto socket_unit = [&](const std::string& name, const std::string& address) {
        bgtest::write_file(dir + "/units/" + name + ".socket", "[Socket]\nListenStream=" + address +
                                                                   "\nStandardOutput=append:" + results + "/" + name +
                                                                   ".log\nStandardError=append:" + results + "/" + name +
                                                                   ".log\n");
        bgtest::write_file(dir + "/units/" + name + ".service", "[Service]\nExecStart=/usr/bin/python3 " + dir +
                                                                    "/server.py " + results + "/" + name + "-server.txt\n");
    };
    socket_unit("v4", "0.0.0.0:3301");
    socket_unit("v6", "[::]:3302");
    socket_unit("open", "0.0.0.0:3303");  // left unprotected: the remote side reaches it
    socket_unit("bad", "0.0.0.0:3304");   // its policy turns invalid after protect: attach fails, so does the unit
    socket_unit("leak", "0.0.0.0:3305");  // check-socket alone, no attach: as if systemd had bound outside the cgroup
    socket_unit("quiet", "0.0.0.0:3306");  // the same under a policy in audit mode: said, not failed
    const std::string audit_policy = dir + "/audit-policy.toml";
    bgtest::write_file(audit_policy, "version = 1\nmode = \"audit\"\n");

    const std::string protect = cli + " protect ";
    const std::string driver =
        "set -u\n"
        "cd /\n"
        "cp " + dir + "/units/* /etc/systemd/system/\n"
        "r=" + results + "\n"
        "for u in v4 v6; do " + protect + "$u.socket --kernel --policy " + policy + " >> $r/protect.txt 2>&1; "
        "echo \"$u.socket --kernel: $?\" >> $r/status.txt; done\n" +
        protect + "bad.socket --kernel --policy " + bad_policy + " >> $r/protect.txt 2>&1\n"
        "printf 'version = 1\\n[default]\\naction = \"open\"\\n' > " + bad_policy + "\n" +
        protect + "open.socket > $r/protect-open-socket.txt 2>&1; echo \"open.socket: $?\" >> $r/status.txt\n" +
        protect + "open.service --dry-run --policy " + policy + " > /dev/null 2> $r/protect-open-service.txt; "
        "echo \"open.service: $?\" >> $r/status.txt\n" +
        protect + "v4.service --dry-run --policy " + policy + " > /dev/null 2> $r/protect-v4-service.txt; "
        "echo \"v4.service: $?\" >> $r/status.txt\n"
        "mkdir -p /etc/systemd/system/leak.socket.d\n"
        "printf '[Socket]\\nExecStartPost=+%s kernel check-socket --policy %s %%n\\n' " + cli + " " + policy +
        " > /etc/systemd/system/leak.socket.d/10-check.conf\n"
        "mkdir -p /etc/systemd/system/quiet.socket.d\n"
        "printf '[Socket]\\nExecStartPost=+%s kernel check-socket --policy %s %%n\\n' " + cli + " " + audit_policy +
        " > /etc/systemd/system/quiet.socket.d/10-check.conf\n"
        "systemctl daemon-reload\n"
        "for u in v4 v6 open bad leak quiet; do systemctl start $u.socket; echo \"$u.socket started: $?\" >> $r/status.txt; done\n"
        "ss -ltnH > $r/listeners.txt\n"
        // Through loopback: each connection activates the service, which answers on fd 3.
        "for p in 3301 3302 3303; do timeout 10 bash -c \"exec 3<>/dev/tcp/127.0.0.1/$p && head -n 1 <&3\" "
        "> $r/reply-$p.txt 2>&1; done\n"
        // A second network namespace, the remote host, joined by a veth pair.
        "ip link add bgv0 type veth peer name bgv1 && ip addr add 10.201.0.1/24 dev bgv0 && ip link set bgv0 up && "
        "ip netns add bgremote && ip link set bgv1 netns bgremote && ip -n bgremote addr add 10.201.0.2/24 dev bgv1 && "
        "ip -n bgremote link set bgv1 up && ip -n bgremote link set lo up || echo 'veth failed' >> $r/remote.txt\n"
        "for p in 3301 3302 3303; do ip netns exec bgremote timeout 10 bash -c \"exec 3<>/dev/tcp/10.201.0.1/$p && "
        "head -n 1 <&3\" > $r/remote-$p.txt 2>&1; echo \"$p: $?\" >> $r/remote.txt; done\n" +
        cli + " audit --format json --policy " + policy + " > $r/audit.json 2> $r/audit.err\n" +
        cli + " audit --policy " + policy + " > $r/audit.txt 2>&1\n"
        // From the unit files (as when systemd does not run: an image, a test).
        "BINDGUARD_SYSTEMD_ROOT=/ " + cli + " audit --format json --policy " + policy + " > $r/audit-files.json 2>&1\n" +
        // The rule sets stored for the cgroups (`kernel status` cannot name a cgroup by its id
        // from inside this container's cgroup namespace).
        "bpftool map dump pinned /sys/fs/bpf/bindguard/map_policies | grep -c '\"key\"' > $r/rule-sets.txt\n"
        "systemctl stop v4.service v6.service open.service v4.socket v6.socket open.socket quiet.socket\n"
        "for u in v4 v6 bad leak; do echo \"$u.socket: $(systemctl show -p ActiveState --value $u.socket) "
        "$(systemctl show -p Result --value $u.socket)\" >> $r/status.txt; done\n"
        "bpftool map dump pinned /sys/fs/bpf/bindguard/map_policies | grep -c '\"key\"' > $r/rule-sets-after.txt\n"
        "ip netns delete bgremote\n"
        "echo done > $r/done\n";
    bgtest::write_file(dir + "/driver.sh", driver);
    // Unified: where systemd binds a socket unit's IP lines in its cgroup (Debian 12's layout).
    Result booted = boot(dir, true);
    const std::string logs = "driver:\n" + (std::filesystem::exists(results + "/driver.log") ? bgtest::read_file(results + "/driver.log") : "") +
                             "\nnspawn:\n" + booted.out + booted.err;
    ASSERT_TRUE(std::filesystem::exists(results + "/done")) << "the driver did not finish (status " << booted.status
                                                            << ")\n" << logs;
    auto file = [&](const std::string& name) {
        const std::string path = results + "/" + name;
        return std::filesystem::exists(path) ? bgtest::read_file(path) : std::string();
    };
    const std::string status = file("status.txt");
    const std::string why = status + file("protect.txt") + file("v4.log") + file("v6.log") + logs;
    EXPECT_NE(status.find("v4.socket --kernel: 0\n"), std::string::npos) << why;
    EXPECT_NE(status.find("v6.socket --kernel: 0\n"), std::string::npos) << why;
    EXPECT_NE(status.find("v4.socket started: 0\n"), std::string::npos) << why;
    EXPECT_NE(status.find("v6.socket started: 0\n"), std::string::npos) << why;

    // systemd bound 0.0.0.0 and [::] (dual-stack) in the socket units' cgroups: rewritten to loopback.
    EXPECT_EQ(listening_in(results + "/listeners.txt"),
              (std::vector<std::string>{"0.0.0.0:3303", "0.0.0.0:3306", "127.0.0.1:3301", "[::ffff:127.0.0.1]:3302"}))
        << why;
    EXPECT_NE(file("v4.log").find("bindguard kernel attach: protecting the cgroup /sys/fs/cgroup"), std::string::npos) << why;
    EXPECT_NE(file("v4.log").find("/system.slice/v4.socket (service=v4 "), std::string::npos) << why;
    EXPECT_NE(file("v4.log").find("bindguard kernel check-socket: v4.socket: no public listener"), std::string::npos)
        << why;
    // The services got working sockets through fd 3, on loopback.
    for (const char* port : {"3301", "3302", "3303"})
        EXPECT_EQ(file(std::string("reply-") + port + ".txt"), "hello from fd 3\n") << port << "\n" << why;
    EXPECT_EQ(file("v4-server.txt"), "local=('127.0.0.1', 3301)\n") << why;
    EXPECT_EQ(file("v6-server.txt"), "local=('::ffff:127.0.0.1', 3302, 0, 0)\n") << why;
    // From the remote side: the protected ones are closed, the unprotected one answers.
    const std::string remote = file("remote.txt");
    EXPECT_NE(remote.find("3303: 0\n"), std::string::npos) << remote << file("remote-3303.txt");
    EXPECT_EQ(file("remote-3303.txt"), "hello from fd 3\n") << remote;
    EXPECT_NE(remote.find("3301: 1\n"), std::string::npos) << remote << file("remote-3301.txt");
    EXPECT_NE(remote.find("3302: 1\n"), std::string::npos) << remote << file("remote-3302.txt");
    EXPECT_NE(file("remote-3301.txt").find("Connection refused"), std::string::npos) << file("remote-3301.txt");

    // Plain protect of a socket unit: refused (pid 1 cannot be preloaded), both ways out named.
    EXPECT_NE(status.find("open.socket: 126\n"), std::string::npos) << status;
    const std::string refused = file("protect-open-socket.txt");
    EXPECT_NE(refused.find("refusing to protect open.socket with the library: systemd (pid 1) binds its listen lines"),
              std::string::npos)
        << refused;
    EXPECT_NE(refused.find("`bindguard protect open.socket --kernel`"), std::string::npos) << refused;
    EXPECT_NE(refused.find("ListenStream=127.0.0.1:3303"), std::string::npos) << refused;
    // protect of the service warns about its socket unit and does not report it protected.
    EXPECT_NE(status.find("open.service: 1\n"), std::string::npos) << status;
    const std::string warned = file("protect-open-service.txt");
    EXPECT_NE(warned.find("warning: open.socket listens publicly for open.service: ListenStream=0.0.0.0:3303 "
                          "(/etc/systemd/system/open.socket:2)"),
              std::string::npos)
        << warned;
    EXPECT_NE(warned.find("open.service is NOT protected"), std::string::npos) << warned;
    // Its socket unit protected with the kernel twin, a service is fine.
    EXPECT_NE(status.find("v4.service: 0\n"), std::string::npos) << status << file("protect-v4-service.txt");

    // audit names the socket units of pid 1's sockets and judges them with their services.
    nlohmann::json audit = nlohmann::json::parse(file("audit.json"), nullptr, false);
    ASSERT_FALSE(audit.is_discarded()) << file("audit.json") << file("audit.err");
    std::map<int, nlohmann::json> by_port;
    for (const auto& socket : audit["sockets"])
        if (socket["proto"] == "tcp") by_port[socket["port"].get<int>()] = socket;
    for (int port : {3301, 3302, 3303}) {
        ASSERT_TRUE(by_port.contains(port)) << port << "\n" << file("audit.json");
        EXPECT_EQ(by_port[port]["pid"], 1) << by_port[port].dump();
        EXPECT_EQ(by_port[port]["service"], port == 3301 ? "v4" : port == 3302 ? "v6" : "open") << by_port[port].dump();
        EXPECT_EQ(by_port[port]["context"]["source"], "systemd-socket") << by_port[port].dump();
    }
    EXPECT_EQ(by_port[3301]["socket_unit"], "v4.socket");
    EXPECT_EQ(by_port[3301]["verdict"], "ok");
    EXPECT_EQ(by_port[3301]["protected_by"], nlohmann::json::array({"kernel"})) << by_port[3301].dump();
    EXPECT_EQ(by_port[3303]["protected"], false) << by_port[3303].dump();
    EXPECT_EQ(by_port[3302]["socket_unit"], "v6.socket");
    EXPECT_EQ(by_port[3303]["socket_unit"], "open.socket");
    EXPECT_EQ(by_port[3303]["verdict"], "exposed");
    EXPECT_EQ(by_port[3303]["unprotected"], true);
    EXPECT_NE(file("audit.txt").find("1/systemd (v4.socket)"), std::string::npos) << file("audit.txt");
    nlohmann::json from_files = nlohmann::json::parse(file("audit-files.json"), nullptr, false);
    ASSERT_FALSE(from_files.is_discarded()) << file("audit-files.json");
    std::map<int, std::string> units_from_files;
    for (const auto& socket : from_files["sockets"])
        if (socket["proto"] == "tcp" && socket["socket_unit"].is_string())
            units_from_files[socket["port"].get<int>()] = socket["socket_unit"];
    EXPECT_EQ(units_from_files, (std::map<int, std::string>{{3301, "v4.socket"}, {3302, "v6.socket"}, {3303, "open.socket"}, {3306, "quiet.socket"}}))
        << file("audit-files.json");

    // The invalid policy: attach failed, the socket unit failed and never listened.
    EXPECT_NE(status.find("bad.socket started: 1\n"), std::string::npos) << status << file("bad.log");
    EXPECT_NE(status.find("bad.socket: failed exit-code\n"), std::string::npos) << status << file("bad.log");
    EXPECT_NE(file("bad.log").find("is invalid; nothing is attached and the unit must not start"), std::string::npos)
        << file("bad.log");
    // check-socket failed the socket unit that listened publicly, which closed its socket.
    EXPECT_NE(status.find("leak.socket started: 1\n"), std::string::npos) << status << file("leak.log");
    EXPECT_NE(status.find("leak.socket: failed exit-code\n"), std::string::npos) << status << file("leak.log");
    EXPECT_NE(file("leak.log").find("bindguard kernel check-socket: leak.socket listens publicly all the same (tcp "
                                    "0.0.0.0:3305): systemd bound it outside the unit's cgroup"),
              std::string::npos)
        << file("leak.log");

    EXPECT_NE(status.find("quiet.socket started: 0\n"), std::string::npos) << status << file("quiet.log");
    EXPECT_NE(file("quiet.log").find("bindguard kernel check-socket: quiet.socket listens publicly (tcp 0.0.0.0:3306): "
                                     "the unit would fail (mode = \"audit\": it goes on)"),
              std::string::npos)
        << file("quiet.log");

    // Stopped: detached, the rule sets removed.
    EXPECT_NE(status.find("v4.socket: inactive success\n"), std::string::npos) << status;
    EXPECT_NE(file("v4.log").find("bindguard kernel detach: detached from /sys/fs/cgroup/system.slice/v4.socket\n"),
              std::string::npos)
        << file("v4.log");
    EXPECT_EQ(file("rule-sets.txt"), "2\n");  // v4's and v6's
    EXPECT_EQ(file("rule-sets-after.txt"), "0\n");
}

}  // namespace
