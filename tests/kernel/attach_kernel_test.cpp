// `bindguard kernel attach` / `kernel detach`, as a systemd unit protected with
// `bindguard protect UNIT --kernel` runs them (ExecCondition=+ and ExecStopPost=+, from
// inside the unit's cgroup). systemd is not pid 1 here, so the unit's cgroup is made by
// the test under its own installation's subtree, and each of the unit's commands is run
// by a shell that first moves itself into it, as systemd starts its processes there; the
// shell that runs the steps stays outside, as systemd does. Real binds in a private
// network namespace show what the kernel does.
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "kernel/kernel_support.hpp"
#include "support/process.hpp"
#include "support/text.hpp"

namespace {

using bgtest::Result;

class KernelAttach : public ::testing::Test {
protected:
    void SetUp() override {
        BGTEST_REQUIRE_KERNEL();
        install_.emplace();
    }
    void TearDown() override { install_.reset(); }

    // A cgroup named name under the installation's subtree (removed with the installation,
    // with whatever still runs in it). Returns its path.
    std::string make_cgroup(const std::string& name) {
        ::mkdir(install_->names().cgroup_subtree.c_str(), 0755);
        const std::string path = install_->names().cgroup_subtree + "/" + name;
        EXPECT_EQ(::mkdir(path.c_str(), 0755), 0) << path;
        return path;
    }

    // Runs script in a shell that first moves itself into the cgroup at path.
    static Result run_in(const std::string& cgroup, const std::string& script) {
        return bgtest::run({"sh", "-c", "echo $$ > \"$0/cgroup.procs\" && " + script, cgroup});
    }

    // Runs script in a shell that stays outside the unit's cgroup at path, as systemd does;
    // in it, `in_unit COMMAND ARGS...` runs one command of the unit inside that cgroup (a
    // shell that moves itself in and execs the command, as systemd starts each of them).
    static Result run_as_systemd(const std::string& cgroup, const std::string& script) {
        return bgtest::run(
            {"sh", "-c", "in_unit() { sh -c 'echo $$ > \"$0/cgroup.procs\" && exec \"$@\"' \"$UNIT_CGROUP\" \"$@\"; }; " + script},
            {"UNIT_CGROUP=" + cgroup});
    }

    // For run_as_systemd(): starts `sleep 60` in the cgroup at path in the background, its
    // pid in $leftover, and waits until it is there.
    static std::string start_leftover(const std::string& cgroup) {
        return "{ sh -c 'echo $$ > \"$0/cgroup.procs\" && exec sleep 60' " + cgroup +
               " </dev/null >/dev/null 2>&1 & leftover=$!; } && until grep -qx \"$leftover\" " + cgroup +
               "/cgroup.procs; do sleep 0.05; done";
    }

    // "BINDGUARD kernel VERB ARGS" for a script.
    static std::string bindguard_kernel(const std::string& verb_and_args) {
        return bgtest::cli_path() + " kernel " + verb_and_args;
    }

    // A bind of ADDRESS:PORT by the static helper in a private network namespace.
    static std::string bind_in_private_netns(const std::string& address) {
        return "unshare -n sh -c 'ip link set lo up && " + bgtest::bin_path("bg-bindtest-static") + " bind tcp " +
               address + "'";
    }

    std::optional<bgtest::KernelInstall> install_;
};

TEST_F(KernelAttach, ProtectsTheCallersCgroupAcrossARestartUntilDetached) {
    const std::string unit = make_cgroup("demo.service");
    const std::string attach = bindguard_kernel("attach --policy " + bgtest::default_policy() + " --program " +
                                                bgtest::bin_path("bg-bindtest-static"));
    // Attached twice without a detach between (a unit whose ExecStopPost= did not run):
    // the second attach replaces the first's rule set and relay.
    Result r = run_as_systemd(unit, "in_unit " + attach + " && in_unit " + attach + " && " + bindguard_kernel("status") +
                                        " && in_unit " + bind_in_private_netns("0.0.0.0:3100") + " && in_unit " +
                                        bindguard_kernel("detach") + " && in_unit " +
                                        bind_in_private_netns("0.0.0.0:3101") + " && " + bindguard_kernel("status"));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    const std::vector<std::string> out = bgtest::lines(r.out);
    std::vector<std::string> binds, protected_cgroups;
    for (const std::string& line : out) {
        if (line.starts_with("ret=")) binds.push_back(bgtest::fields(line)["local"]);
        if (line.starts_with("cgroup /")) protected_cgroups.push_back(line);
    }
    EXPECT_EQ(binds, (std::vector<std::string>{"127.0.0.1:3100", "0.0.0.0:3101"})) << r.out;  // detached: untouched
    ASSERT_EQ(protected_cgroups.size(), 1u) << r.out;  // once, though attached twice
    EXPECT_TRUE(protected_cgroups[0].starts_with("cgroup " + unit + ": ")) << protected_cgroups[0];
    EXPECT_NE(protected_cgroups[0].find("attached: bind4 bind6 sockops; service=demo program=" +
                                        std::filesystem::canonical(bgtest::bin_path("bg-bindtest-static")).string() +
                                        " policy="),
              std::string::npos)
        << protected_cgroups[0];
    EXPECT_NE(r.out.find("bindguard kernel attach: protecting the cgroup " + unit), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("; it was still attached (kept), its rule set is replaced\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bindguard kernel detach: detached from " + unit), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cgroups: none protected"), std::string::npos) << r.out;  // the last status
    // The relay wrote the kernel's decision to attach's stderr (a unit's journal), once.
    std::vector<std::string> logged;
    for (const std::string& line : bgtest::lines(r.err))
        if (line.find("call=kernel") != std::string::npos) logged.push_back(line);
    ASSERT_EQ(logged.size(), 1u) << r.err;
    EXPECT_NE(logged[0].find("]: rewrite tcp 0.0.0.0:3100 -> 127.0.0.1:3100 rule=default"), std::string::npos)
        << logged[0];
    EXPECT_TRUE(logged[0].ends_with(" service=demo call=kernel")) << logged[0];
    // Every relay has ended (the ring buffer was removed or replaced) and left its cgroup.
    for (const std::string& path : install_->cgroups())
        EXPECT_EQ(path, unit) << "left behind: " << path;
}

TEST_F(KernelAttach, ASocketUnitsCgroupIsProtectedForItsService) {
    // What `protect app.socket --kernel` writes: attach as the socket unit's ExecStartPre=+,
    // then systemd binds its listen lines in a helper it forks into the same cgroup (here a
    // shell standing for it), then detach as ExecStopPost=+.
    const std::string unit = make_cgroup("app.socket");
    Result r = run_as_systemd(unit, "in_unit " + bindguard_kernel("attach --policy " + bgtest::default_policy()) +
                                        " && in_unit " + bind_in_private_netns("0.0.0.0:3105") + " && in_unit " +
                                        bind_in_private_netns("[::]:3106") + " && in_unit " + bindguard_kernel("detach"));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    std::vector<std::string> binds;
    for (const std::string& line : bgtest::lines(r.out))
        if (line.starts_with("ret=")) binds.push_back(bgtest::fields(line)["local"]);
    EXPECT_EQ(binds, (std::vector<std::string>{"127.0.0.1:3105", "[::ffff:127.0.0.1]:3106"})) << r.out;
    // Its service, for `service` rules: the socket unit's name without the suffix.
    EXPECT_NE(r.out.find("bindguard kernel attach: protecting the cgroup " + unit + " (service=app program=- policy="),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("bindguard kernel detach: detached from " + unit), std::string::npos) << r.out;
}

TEST_F(KernelAttach, FailsClosedWhenItCannotAttach) {
    const std::string policy = bgtest::default_policy();
    // The root cgroup: refused, whatever the flags.
    const std::string root = bindguard::kernel::cgroup2_mount();
    Result at_root = run_in(root, bindguard_kernel("attach --any-cgroup --policy " + policy));
    EXPECT_EQ(at_root.status, 126) << at_root.out << at_root.err;
    EXPECT_NE(at_root.err.find("bindguard kernel attach: refusing the root cgroup " + root), std::string::npos)
        << at_root.err;

    // A cgroup that is not a service's: refused unless --any-cgroup.
    const std::string plain = make_cgroup("plain");
    Result not_a_service = run_in(plain, bindguard_kernel("attach --policy " + policy));
    EXPECT_EQ(not_a_service.status, 126);
    EXPECT_NE(not_a_service.err.find("refusing the cgroup " + plain + ": it is not a systemd service's"),
              std::string::npos)
        << not_a_service.err;

    // An invalid policy: exit 2 with the file:line:col.
    const std::string unit = make_cgroup("bad.service");
    const std::string invalid = bgtest::write_policy("version = 1\n[default]\naction = \"open\"\n");
    Result bad_policy = run_in(unit, bindguard_kernel("attach --policy " + invalid));
    EXPECT_EQ(bad_policy.status, 2);
    EXPECT_NE(bad_policy.err.find(invalid + ":3:"), std::string::npos) << bad_policy.err;
    EXPECT_NE(bad_policy.err.find("the unit must not start"), std::string::npos) << bad_policy.err;

    // A rule set too large for the kernel programs (20 addresses x 20 ports): exit 126.
    const std::string big = bgtest::write_policy(bgtest::too_large_policy_text());
    Result too_big = run_in(unit, bindguard_kernel("attach --policy " + big));
    EXPECT_EQ(too_big.status, 126);
    EXPECT_NE(too_big.err.find("cannot protect the cgroup " + unit + ": "), std::string::npos) << too_big.err;
    EXPECT_NE(too_big.err.find("400 kernel entries"), std::string::npos) << too_big.err;

    // As a unit's ExecCondition= (what `protect --kernel` writes), every failure exits 255,
    // which fails the unit (systemd skips a unit quietly for 1-254), a usage error too.
    for (const std::string& args : {"attach --exec-condition --policy " + invalid,
                                    "attach --exec-condition --policy " + big, std::string("attach --exec-condition --no-such-option")}) {
        Result as_condition = run_in(unit, bindguard_kernel(args));
        EXPECT_EQ(as_condition.status, 255) << args << "\n" << as_condition.err;
    }
    Result refused_as_condition = run_in(plain, bindguard_kernel("attach --exec-condition --policy " + policy));
    EXPECT_EQ(refused_as_condition.status, 255) << refused_as_condition.err;
    EXPECT_NE(refused_as_condition.err.find("it is not a systemd service's"), std::string::npos)
        << refused_as_condition.err;
    EXPECT_EQ(run_in(unit, bindguard_kernel("attach --no-such-option")).status, 2);  // without it: a usage error

    // None of them left anything attached; a bind in those cgroups is the kernel's own.
    Result status = bgtest::run({bgtest::cli_path(), "kernel", "status"});
    EXPECT_EQ(status.out.find("\ncgroup "), std::string::npos) << status.out;
    Result unprotected = run_in(unit, bind_in_private_netns("0.0.0.0:3102"));
    const std::vector<std::string> bound = bgtest::lines(unprotected.out);
    ASSERT_EQ(bound.size(), 1u) << unprotected.out << unprotected.err;
    EXPECT_EQ(bgtest::fields(bound[0])["local"], "0.0.0.0:3102") << unprotected.out;
}

// The value of the first line of text that starts with key ("ExecCondition=+"), without it.
std::string setting(const std::string& text, const std::string& key) {
    for (const std::string& line : bgtest::lines(text))
        if (line.starts_with(key)) return line.substr(key.size());
    return "";
}

TEST_F(KernelAttach, TheDropInOfProtectKernelRunAsSystemdWouldRunIt) {
    // A unit whose program binds the wildcard, and whose own ExecStartPre= binds too (as
    // Debian's nginx.service's `nginx -t` does); `protect --kernel` writes its drop-in, whose
    // ExecCondition=+ and ExecStopPost=+ command lines (plain words and double quotes, which
    // sh reads as systemd does) run in the unit's cgroup in systemd's order: ExecCondition=,
    // ExecStartPre=, ExecStart=, ExecStopPost=.
    const std::string root = bgtest::temp_dir();
    const std::string program = bgtest::bin_path("bg-bindtest-static");
    const std::string exec_start_pre = program + " bind tcp 0.0.0.0:3107";
    const std::string exec_start = program + " bind tcp 0.0.0.0:3103";
    std::filesystem::create_directories(root + "/lib/systemd/system");
    bgtest::write_file(root + "/lib/systemd/system/demo.service",
                       "[Service]\nExecStartPre=" + exec_start_pre + "\nExecStart=" + exec_start + "\n");
    Result protect = bgtest::run({bgtest::cli_path(), "protect", "demo", "--root", root, "--kernel", "--policy",
                                  bgtest::default_policy(), "--service", "web", "--dry-run"});
    ASSERT_EQ(protect.status, 0) << protect.err;
    const std::string condition = setting(protect.out, "ExecCondition=+");
    const std::string stop_post = setting(protect.out, "ExecStopPost=+");
    ASSERT_NE(condition.find(" kernel attach --exec-condition "), std::string::npos) << protect.out;
    ASSERT_NE(stop_post.find(" kernel detach"), std::string::npos) << protect.out;
    EXPECT_EQ(protect.out.find("\nExecStartPre="), std::string::npos) << protect.out;

    const std::string unit = make_cgroup("demo.service");
    auto in_netns = [](const std::string& command) { return "in_unit unshare -n sh -c 'ip link set lo up && " + command + "'"; };
    Result r = run_as_systemd(unit, "in_unit " + condition + " && " + bindguard_kernel("status") + " && " +
                                        in_netns(exec_start_pre) + " && " + in_netns(exec_start) + " && in_unit " +
                                        stop_post);
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    std::vector<std::string> binds;
    std::string status_line;
    for (const std::string& line : bgtest::lines(r.out)) {
        if (line.starts_with("ret=")) binds.push_back(bgtest::fields(line)["local"]);
        if (line.starts_with("cgroup /")) status_line = line;
    }
    EXPECT_EQ(binds, (std::vector<std::string>{"127.0.0.1:3107", "127.0.0.1:3103"})) << r.out;
    EXPECT_NE(status_line.find("service=web program=" + std::filesystem::canonical(program).string()),
              std::string::npos)
        << status_line;
    EXPECT_NE(r.out.find("bindguard kernel detach: detached from " + unit), std::string::npos) << r.out;
}

TEST_F(KernelAttach, DetachKeepsTheProgramsWhileProcessesTheUnitLeftBehindRun) {
    // A unit with KillMode=process (or mixed, or none) can leave processes in its cgroup
    // when its ExecStopPost= runs: detach keeps the programs for them; the next start's
    // attach takes them over with its policy; the detach after the last one has ended
    // detaches. The leftover runs in a sub-cgroup, as under Delegate=yes.
    const std::string unit = make_cgroup("left.service");
    const std::string payload = unit + "/payload";
    ASSERT_EQ(::mkdir(payload.c_str(), 0755), 0) << payload;
    const std::string program = bgtest::bin_path("bg-bindtest-static");
    const std::string opens_3106 = bgtest::write_policy(
        "version = 1\n[log]\nlevel = \"warn\"\n[[rule]]\nname = \"public-3106\"\naction = \"allow\"\nport = [3106]\n");
    const std::string attach = bindguard_kernel("attach --exec-condition --program " + program + " --policy ");
    const std::string leftover_starts = start_leftover(payload);
    Result r = run_as_systemd(
        unit, "in_unit " + attach + bgtest::default_policy() + " && " + leftover_starts + " && in_unit " +
                  bindguard_kernel("detach") + " && " + bindguard_kernel("status") + " && in_unit " +
                  bind_in_private_netns("0.0.0.0:3104") +
                  // The unit starts again while the leftover runs, with a policy that changed.
                  " && in_unit " + attach + opens_3106 + " && in_unit " + bind_in_private_netns("0.0.0.0:3106") +
                  " && in_unit " + bind_in_private_netns("0.0.0.0:3105") +
                  // Its next stop, once the leftover has ended.
                  " && kill $leftover && { wait $leftover; true; } && in_unit " + bindguard_kernel("detach") +
                  " && in_unit " + bind_in_private_netns("0.0.0.0:3108") + " && " + bindguard_kernel("status"));
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    std::vector<std::string> binds, protected_cgroups;
    for (const std::string& line : bgtest::lines(r.out)) {
        if (line.starts_with("ret=")) binds.push_back(bgtest::fields(line)["local"]);
        if (line.starts_with("cgroup /")) protected_cgroups.push_back(line);
    }
    EXPECT_EQ(binds, (std::vector<std::string>{"127.0.0.1:3104", "0.0.0.0:3106", "127.0.0.1:3105", "0.0.0.0:3108"}))
        << r.out;
    EXPECT_NE(r.out.find("bindguard kernel detach: kept on " + unit + ": 1 process (pid "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" still run in it and would be left unprotected."), std::string::npos) << r.out;
    ASSERT_EQ(protected_cgroups.size(), 1u) << r.out;  // the first status; the last one: none
    EXPECT_NE(protected_cgroups[0].find("cgroup " + unit + ": 1 processes; attached: bind4 bind6 sockops;"),
              std::string::npos)
        << protected_cgroups[0];
    EXPECT_NE(r.out.find("; it was still attached (kept), its rule set is replaced\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bindguard kernel detach: detached from " + unit), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("cgroups: none protected"), std::string::npos) << r.out;
    // Its [log] too: the first policy's relay logged 3104; the second asks for warnings
    // only, so the rewrite of 3105 is not logged (the first relay ended with the re-attach).
    EXPECT_NE(r.err.find("rewrite tcp 0.0.0.0:3104 -> 127.0.0.1:3104"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(":3105"), std::string::npos) << r.err;
}

TEST_F(KernelAttach, DetachForceLeavesTheProcessesLeftBehindUnprotected) {
    const std::string unit = make_cgroup("forced.service");
    Result r = run_as_systemd(
        unit, "in_unit " + bindguard_kernel("attach --policy " + bgtest::default_policy()) +
                  " && " + start_leftover(unit) + " && in_unit " +
                  bindguard_kernel("detach --force") + " && in_unit " + bind_in_private_netns("0.0.0.0:3109") +
                  "; kill $leftover");
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.err.find("bindguard kernel detach: warning: 1 process (pid "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(" in " + unit + " are left UNPROTECTED (--force)"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("bindguard kernel detach: detached from " + unit), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("local=0.0.0.0:3109"), std::string::npos) << r.out;
}

TEST_F(KernelAttach, UnloadDetachesAUnitButLeavesItsCgroupToSystemd) {
    // Outside the installation's subtree, as systemd's system.slice is.
    bgtest::TestCgroupTree slice("bgtest-slice");
    const std::string unit = slice.path() + "/held.service";
    ASSERT_EQ(::mkdir(unit.c_str(), 0755), 0) << unit;
    auto held = bgtest::Process::start({"sh", "-c",
                                        "echo $$ > \"$0/cgroup.procs\" && " +
                                            bindguard_kernel("attach --policy " + bgtest::default_policy()) +
                                            " && echo ready && exec sleep 60",
                                        unit});
    // Ready once attach has ended: `kernel status` shows the cgroup as soon as its rule set
    // is in, while attach still runs in the unit's cgroup (stopping the shell then would
    // leave attach there, and unload would rightly refuse).
    for (int i = 0; i < 200 && held.out_so_far().find("ready\n") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_NE(held.out_so_far().find("ready\n"), std::string::npos) << held.err_so_far();
    ASSERT_NE(bgtest::run({bgtest::cli_path(), "kernel", "status"}).out.find("cgroup " + unit + ":"), std::string::npos);
    Result refused = bgtest::run({bgtest::cli_path(), "kernel", "unload"});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("  " + unit + "\n"), std::string::npos) << refused.err;
    EXPECT_EQ(refused.err.find("relay-"), std::string::npos) << refused.err;  // a relay is not a protected cgroup

    held.stop();
    Result unloaded = bgtest::run({bgtest::cli_path(), "kernel", "unload"});
    EXPECT_EQ(unloaded.status, 0) << unloaded.err;
    EXPECT_FALSE(std::filesystem::exists(install_->names().pin_dir));
    EXPECT_TRUE(std::filesystem::exists(unit)) << "the unit's cgroup is systemd's to remove";
    EXPECT_TRUE(install_->cgroups().empty()) << "the relay's cgroup should be gone";
    EXPECT_FALSE(std::filesystem::exists(install_->names().cgroup_subtree));
}

}  // namespace
