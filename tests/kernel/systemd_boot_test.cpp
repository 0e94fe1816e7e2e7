// `bindguard protect UNIT --kernel` under a real systemd: systemd booted as pid 1 of a
// throwaway container (systemd-nspawn --volatile=yes: a tmpfs root over the host's /usr,
// so nothing it writes outlives it; a private network namespace; a BPF filesystem of its
// own). A oneshot driver unit in it protects small units, starts and stops them with
// systemctl and writes what their real binds did into a directory of the test's, then
// exits the container. The container runs in a cgroup tree of the test's own (removed
// with everything in it, pass or fail), never under the host's other cgroups.
//
// Skipped, with the reason, where it cannot run: not root, no systemd-nspawn (Debian's
// systemd-container), no cgroup v2, BPF unavailable.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "kernel/kernel_support.hpp"
#include "support/process.hpp"
#include "support/text.hpp"

namespace {

namespace k = bindguard::kernel;
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

// Why the container cannot be booted here, or nullopt.
std::optional<std::string> boot_unavailable() {
    if (auto reason = bgtest::kernel_unavailable()) return reason;
    if (::access("/usr/bin/systemd-nspawn", X_OK) != 0)
        return "no /usr/bin/systemd-nspawn (Debian's systemd-container; scripts/setup installs it)";
    if (::access("/lib/systemd/systemd", X_OK) != 0) return "no /lib/systemd/systemd to boot";
    return std::nullopt;
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

TEST(SystemdBoot, ProtectKernelAttachesBeforeTheUnitsOwnExecStartPreAndKeepsWhatItLeavesBehind) {
    if (auto reason = boot_unavailable()) GTEST_SKIP() << *reason;
    const std::string dir = bgtest::temp_dir();
    const std::string results = dir + "/results";
    std::filesystem::create_directories(results);
    std::filesystem::create_directories(dir + "/units");
    const std::string cli = bgtest::cli_path(), helper = bgtest::bin_path("bg-bindtest-static");
    // In the directory the container sees (protect writes its compiled image beside it).
    const std::string policy = dir + "/policy.toml";
    std::filesystem::copy_file(bgtest::default_policy(), policy);
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
    // A sanitized build's library needs its runtime preloaded first, which the drop-in does not do.
    const bool with_preload = !bgtest::sanitized_build();
    // Its policy turns invalid after `protect` checked it: attach fails, the unit must fail.
    unit("bad", "ExecStartPre=/bin/sh -c 'echo ran > " + results + "/bad-pre.txt'\nExecStart=/bin/sh -c 'echo ran > " +
                    results + "/bad-start.txt; exec sleep infinity'\n");

    const std::string driver =
        "set -u\n"
        "cd /\n"
        "cp " + dir + "/units/*.service /etc/systemd/system/\n"
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
        "ss -ltnH > " + results + "/listeners.txt\n" +
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
    bgtest::write_file(dir + "/bgtest.target",
                       "[Unit]\nDefaultDependencies=no\nRequires=bgtest-driver.service\nAfter=bgtest-driver.service\n");
    bgtest::write_file(dir + "/bgtest-driver.service",
                       "[Unit]\nDefaultDependencies=no\nSuccessAction=exit-force\nFailureAction=exit-force\n"
                       "[Service]\nType=oneshot\nStandardOutput=append:" + results + "/driver.log\nStandardError=append:" +
                           results + "/driver.log\nExecStart=/bin/sh " + dir + "/driver.sh\n");

    // The container's cgroups: a tree of the test's own in cgroup v2 (and in the v1
    // name=systemd hierarchy of a hybrid layout), which systemd-nspawn --keep-unit uses.
    // Destroyed in reverse order: the /run state, the v1 tree, then the v2 tree (killing
    // whatever is left of the container when nspawn itself had to be killed).
    bgtest::TestCgroupTree tree("bgtest-systemd");
    const std::string name = tree.path().substr(tree.path().rfind('/') + 1);
    const std::string v1 = name_systemd_mount(), v1_tree = v1.empty() ? "" : v1 + "/" + name;
    if (!v1.empty()) {
        ASSERT_EQ(::mkdir(v1_tree.c_str(), 0755), 0) << v1_tree;
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
    Result booted = bgtest::run({"sh", "-c", join + " && " + nspawn}, {}, std::chrono::seconds(90));
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

}  // namespace
