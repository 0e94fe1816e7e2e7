// Rows 16 and 17 of BINDING-CASES.md with real programs: syscall(SYS_bind/
// SYS_listen) decided like bind()/listen() and every other number forwarded;
// children started with an environment that lacks the library get it back
// (every libc entry point, the Node child_process case), unless the policy
// says [children] inherit = false.
//
// Anything that could bind a non-loopback address (the variants without the
// library, inherit = false, raw binds) runs inside `unshare -n`.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <ostream>
#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/text.hpp"

namespace {

using bgtest::default_policy;
using bgtest::fields;
using bgtest::Fields;
using bgtest::lines;
using bgtest::write_policy;

std::string childtest() { return BG_CHILDTEST; }
std::string node_parent() { return std::string(BG_CHILDREN_SOURCE_DIR) + "/spawn_env_empty.js"; }
std::string no_inherit_policy() { return write_policy("version = 1\n[children]\ninherit = false\n"); }

// The first output line starting with prefix, as fields.
Fields line_fields(const std::string& text, const std::string& prefix) {
    for (const auto& line : lines(text))
        if (line.rfind(prefix, 0) == 0) return fields(line);
    return {};
}

// The printenv report: NAME -> value, or "<unset>".
Fields environment_report(const std::string& text) {
    Fields out;
    for (const auto& line : lines(text)) {
        const auto unset = line.find(" unset");
        if (unset != std::string::npos && line.find('=') == std::string::npos) {
            out[line.substr(0, unset)] = "<unset>";
        } else if (line.rfind("preload_entries=", 0) == 0) {
            for (const auto& [key, value] : fields(line)) out[key] = value;
        } else if (const auto equals = line.find('='); equals != std::string::npos) {
            out[line.substr(0, equals)] = line.substr(equals + 1);
        }
    }
    return out;
}

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// The library's environment for a protected parent: LD_PRELOAD (and the
// sanitizer options in an asan build), the policy and the service.
std::vector<std::string> protected_env(const std::string& policy, const std::string& service = "svc-parent") {
    std::vector<std::string> env = bgtest::shim_env();
    env.push_back("BINDGUARD_POLICY=" + policy);
    env.push_back("BINDGUARD_SERVICE=" + service);
    return env;
}

std::vector<std::string> with(std::vector<std::string> argv, const std::vector<std::string>& more) {
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
}

// Runs argv directly (host network namespace) with env added to a clean base.
bgtest::Result run_here(const std::vector<std::string>& argv, std::vector<std::string> env) {
    env.insert(env.begin(), {"-LD_PRELOAD", "-BINDGUARD_POLICY", "-BINDGUARD_SERVICE", "-ASAN_OPTIONS"});
    return bgtest::run(argv, env);
}

// Runs argv inside a new network namespace whose lo is up; only argv's program
// gets env (unshare, sh and ip run without the library).
bgtest::Result run_in_netns(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    std::vector<std::string> command{"unshare", "-n", "sh", "-c", "ip link set lo up && exec env \"$@\"", "sh"};
    for (const auto& entry : env)
        if (entry[0] != '-') command.push_back(entry);
    command.insert(command.end(), argv.begin(), argv.end());
    return bgtest::run(command, {"-LD_PRELOAD", "-BINDGUARD_POLICY", "-BINDGUARD_SERVICE", "-ASAN_OPTIONS"});
}

std::string diagnose(const bgtest::Result& result) {
    return "status=" + std::to_string(result.status) + "\nstdout:\n" + result.out + "\nstderr:\n" + result.err;
}

// ---------------------------------------------------------------- syscall()

TEST(Syscall, BindWildcardRewrittenToLoopback) {
    const auto protected_run =
        run_in_netns({childtest(), "syscall-bind", "tcp", "0.0.0.0:0"}, protected_env(default_policy()));
    const Fields result = line_fields(protected_run.out, "ret=");
    EXPECT_EQ(result.at("ret"), "0") << diagnose(protected_run);
    EXPECT_TRUE(starts_with(result.at("local"), "127.0.0.1:")) << diagnose(protected_run);
    EXPECT_NE(protected_run.err.find("rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), std::string::npos)
        << diagnose(protected_run);

    // The same program without the library binds the wildcard: the check above can fail.
    const auto plain = run_in_netns({childtest(), "syscall-bind", "tcp", "0.0.0.0:0"}, {});
    EXPECT_TRUE(starts_with(line_fields(plain.out, "ret=").at("local"), "0.0.0.0:")) << diagnose(plain);
}

TEST(Syscall, BindIpv6WildcardAndUdpRewritten) {
    const auto v6 = run_in_netns({childtest(), "syscall-bind", "tcp", "[::]:0"}, protected_env(default_policy()));
    EXPECT_TRUE(starts_with(line_fields(v6.out, "ret=").at("local"), "[::ffff:127.0.0.1]:")) << diagnose(v6);
    const auto udp =
        run_in_netns({childtest(), "syscall-bind", "udp", "0.0.0.0:5353"}, protected_env(default_policy()));
    EXPECT_EQ(line_fields(udp.out, "ret=").at("local"), "127.0.0.1:5353") << diagnose(udp);
}

TEST(Syscall, BindLogsTheSyscallRoute) {
    const std::string policy = write_policy("version = 1\n[log]\nformat = \"json\"\n");
    const auto result = run_in_netns({childtest(), "syscall-bind", "tcp", "0.0.0.0:0"}, protected_env(policy));
    EXPECT_NE(result.err.find("\"call\":\"syscall\""), std::string::npos) << diagnose(result);
    EXPECT_NE(result.err.find("\"action\":\"rewrite\""), std::string::npos) << diagnose(result);
}

TEST(Syscall, BindDeniedWithEacces) {
    const std::string policy = write_policy("version = 1\n[default]\naction = \"deny\"\n");
    const auto result = run_in_netns({childtest(), "syscall-bind", "tcp", "0.0.0.0:0"}, protected_env(policy));
    const Fields fields = line_fields(result.out, "ret=");
    EXPECT_EQ(fields.at("ret"), "-1") << diagnose(result);
    EXPECT_EQ(fields.at("errno"), std::to_string(EACCES)) << diagnose(result);
    EXPECT_EQ(fields.at("local"), "0.0.0.0:0") << diagnose(result);  // never bound
}

TEST(Syscall, BindBadDescriptorGetsTheKernelsAnswer) {
    const auto result = run_here({childtest(), "syscall-bind-badfd"}, protected_env(default_policy()));
    EXPECT_EQ(line_fields(result.out, "ret=").at("errno"), std::to_string(EBADF)) << diagnose(result);
    EXPECT_EQ(line_fields(result.out, "ret=").at("ret"), "-1") << diagnose(result);
}

TEST(Syscall, ListenOnUnboundSocketBindsLoopback) {
    const auto result = run_in_netns({childtest(), "syscall-listen-unbound"}, protected_env(default_policy()));
    const Fields fields = line_fields(result.out, "ret=");
    EXPECT_EQ(fields.at("ret"), "0") << diagnose(result);
    EXPECT_EQ(fields.at("listening"), "1") << diagnose(result);
    EXPECT_TRUE(starts_with(fields.at("local"), "127.0.0.1:")) << diagnose(result);

    const auto plain = run_in_netns({childtest(), "syscall-listen-unbound"}, {});
    EXPECT_TRUE(starts_with(line_fields(plain.out, "ret=").at("local"), "0.0.0.0:")) << diagnose(plain);
}

// Row 11 through syscall(): a socket bound where the policy would not allow, by
// a route the library never saw (the raw instruction), must not listen there.
TEST(Syscall, ListenOnRawBoundPublicSocketRefused) {
    const auto result =
        run_in_netns({childtest(), "syscall-listen-rawbound", "0.0.0.0:0"}, protected_env(default_policy()));
    const Fields fields = line_fields(result.out, "ret=");
    EXPECT_EQ(fields.at("ret"), "-1") << diagnose(result);
    EXPECT_EQ(fields.at("errno"), std::to_string(EACCES)) << diagnose(result);
    EXPECT_EQ(fields.at("listening"), "0") << diagnose(result);

    const auto plain = run_in_netns({childtest(), "syscall-listen-rawbound", "0.0.0.0:0"}, {});
    EXPECT_EQ(line_fields(plain.out, "ret=").at("listening"), "1") << diagnose(plain);
}

TEST(Syscall, GetpidForwarded) {
    const auto result = run_here({childtest(), "syscall-getpid"}, protected_env(default_policy()));
    const Fields fields = line_fields(result.out, "getpid=");
    ASSERT_FALSE(fields.empty()) << diagnose(result);
    EXPECT_EQ(fields.at("getpid"), fields.at("syscall")) << diagnose(result);
}

// copy_file_range(fd_in, &off_in, fd_out, &off_out, len, flags) through
// syscall(): each of the six arguments shows in the result.
TEST(Syscall, SixArgumentsForwarded) {
    const std::string expected = "ret=4 off_in=7 off_out=9 data=3456 flags_ret=-1 flags_errno=" + std::to_string(EINVAL);
    const auto result = run_here({childtest(), "syscall-six"}, protected_env(default_policy()));
    EXPECT_EQ(lines(result.out), std::vector<std::string>{expected}) << diagnose(result);
    const auto plain = run_here({childtest(), "syscall-six"}, {});
    EXPECT_EQ(lines(plain.out), std::vector<std::string>{expected}) << diagnose(plain);
}

TEST(Syscall, ErrnoOfFailingCallForwarded) {
    const auto result = run_here({childtest(), "syscall-close-badfd"}, protected_env(default_policy()));
    EXPECT_EQ(lines(result.out), std::vector<std::string>{"ret=-1 errno=" + std::to_string(EBADF)})
        << diagnose(result);
}

// ------------------------------------------------- children: every entry point

struct Entry {
    const char* name;
    const char* environment;  // "given": a fresh envp; "current": the cleaned current one
};

// Shown in test names and failure messages: "execve given".
void PrintTo(const Entry& entry, std::ostream* out) { *out << entry.name << ' ' << entry.environment; }

std::string entry_name(const testing::TestParamInfo<Entry>& info) {
    std::string name = std::string(info.param.name) + "_" + info.param.environment;
    for (char& c : name)
        if (c == '-') c = '_';
    return name;
}

class EveryEntry : public testing::TestWithParam<Entry> {
protected:
    std::vector<std::string> exec(const std::vector<std::string>& program) const {
        return with({childtest(), "exec", GetParam().name, GetParam().environment}, program);
    }
};

// The child's environment carries the library and the parent's settings again.
TEST_P(EveryEntry, ChildGetsLibraryAndSettingsBack) {
    const std::string policy = default_policy();
    const auto result = run_here(exec({childtest(), "printenv"}), protected_env(policy));
    ASSERT_EQ(result.status, 0) << diagnose(result);
    const Fields env = environment_report(result.out);
    EXPECT_EQ(env.at("LD_PRELOAD"), bgtest::preload_value()) << diagnose(result);
    EXPECT_EQ(env.at("BINDGUARD_POLICY"), policy) << diagnose(result);
    EXPECT_EQ(env.at("BINDGUARD_SERVICE"), "svc-parent") << diagnose(result);
    EXPECT_EQ(env.at("preload_entries"), "1") << diagnose(result);
}

// The child really is protected: its wildcard bind ends on loopback.
TEST_P(EveryEntry, ChildBindRewritten) {
    const auto result =
        run_in_netns(exec({bgtest::helper_path(), "bind", "tcp", "0.0.0.0:0"}), protected_env(default_policy()));
    const Fields fields = line_fields(result.out, "ret=");
    ASSERT_FALSE(fields.empty()) << diagnose(result);
    EXPECT_EQ(fields.at("ret"), "0") << diagnose(result);
    EXPECT_TRUE(starts_with(fields.at("local"), "127.0.0.1:")) << diagnose(result);
}

// [children] inherit = false: the child runs as started, unprotected.
TEST_P(EveryEntry, NotPutBackWhenInheritIsOff) {
    const std::string policy = no_inherit_policy();
    const auto bound = run_in_netns(exec({bgtest::helper_path(), "bind", "tcp", "0.0.0.0:0"}), protected_env(policy));
    const Fields fields = line_fields(bound.out, "ret=");
    ASSERT_FALSE(fields.empty()) << diagnose(bound);
    EXPECT_TRUE(starts_with(fields.at("local"), "0.0.0.0:")) << diagnose(bound);

    const auto env = run_here(exec({childtest(), "printenv"}), protected_env(policy));
    EXPECT_EQ(environment_report(env.out).at("LD_PRELOAD"), "<unset>") << diagnose(env);
}

// A failing exec returns -1 with the kernel's errno (posix_spawn*: the error
// number), and the caller's envp array and strings are unchanged.
TEST_P(EveryEntry, FailureKeepsErrnoAndCallersArrays) {
    const auto result =
        run_here({childtest(), "exec-fail", GetParam().name, GetParam().environment}, protected_env(default_policy()));
    const Fields fields = line_fields(result.out, "ret=");
    ASSERT_FALSE(fields.empty()) << diagnose(result);
    const std::string name = GetParam().name;
    if (name == "system") {
        EXPECT_EQ(fields.at("ret"), "127") << diagnose(result);  // the shell's "not found"
    } else if (starts_with(name, "posix_spawn")) {
        EXPECT_EQ(fields.at("ret"), std::to_string(ENOENT)) << diagnose(result);
    } else {
        EXPECT_EQ(fields.at("ret"), "-1") << diagnose(result);
        EXPECT_EQ(fields.at("errno"), std::to_string(name == "fexecve" ? EACCES : ENOENT)) << diagnose(result);
    }
    EXPECT_EQ(fields.at("envp_intact"), "1") << diagnose(result);
}

INSTANTIATE_TEST_SUITE_P(Children, EveryEntry,
                         testing::Values(Entry{"execve", "given"}, Entry{"execve", "current"},
                                         Entry{"execv", "current"}, Entry{"execvp", "current"},
                                         Entry{"execvpe", "given"}, Entry{"execvpe", "current"},
                                         Entry{"execl", "current"}, Entry{"execlp", "current"},
                                         Entry{"execle", "given"}, Entry{"execle", "current"},
                                         Entry{"fexecve", "given"}, Entry{"execveat", "given"},
                                         Entry{"posix_spawn", "given"}, Entry{"posix_spawn", "current"},
                                         Entry{"posix_spawnp", "given"}, Entry{"posix_spawnp", "current"},
                                         Entry{"vfork-execve", "given"}, Entry{"system", "current"}),
                         entry_name);

// system(): the wait status is the shell's, whether it runs through glibc (the
// environment still carries the library) or through the library's own version
// (the program removed LD_PRELOAD from its environment); system(NULL) says a
// shell exists.
TEST(SystemCall, StatusSameOnBothPaths) {
    for (const char* how : {"kept", "cleaned"}) {
        const auto exit3 = run_here({childtest(), "system-status", "exit 3", how}, protected_env(default_policy()));
        EXPECT_EQ(lines(exit3.out), std::vector<std::string>{"status=" + std::to_string(3 << 8)}) << how;
        const auto null = run_here({childtest(), "system-status", "null", how}, protected_env(default_policy()));
        EXPECT_EQ(lines(null.out), std::vector<std::string>{"status=1"}) << how;
        const auto killed =
            run_here({childtest(), "system-status", "kill -TERM $$", how}, protected_env(default_policy()));
        EXPECT_EQ(lines(killed.out), std::vector<std::string>{"status=" + std::to_string(SIGTERM)}) << how;
    }
}

// ------------------------------------------------------ children: the details

Fields child_environment(const std::vector<std::string>& parent_env, const std::string& child_env,
                         const char* entry = "execve", const std::vector<std::string>& extra = {}) {
    std::vector<std::string> env = parent_env;
    env.push_back("BGCT_ENV=" + child_env);
    env.insert(env.end(), extra.begin(), extra.end());
    const auto result = run_here({childtest(), "exec", entry, "given", childtest(), "printenv"}, env);
    EXPECT_EQ(result.status, 0) << diagnose(result);
    return environment_report(result.out);
}

// Without the library nothing is put back: the helpers' environments really lack it.
TEST(ChildEnvironment, UnchangedWithoutTheLibrary) {
    const auto result = run_here({childtest(), "exec", "execve", "given", childtest(), "printenv"},
                                 {"BINDGUARD_POLICY=" + default_policy()});
    const Fields env = environment_report(result.out);
    EXPECT_EQ(env.at("LD_PRELOAD"), "<unset>") << diagnose(result);
    EXPECT_EQ(env.at("BINDGUARD_POLICY"), "<unset>") << diagnose(result);
}

// Values the caller sets explicitly win; other LD_PRELOAD entries are kept after ours.
TEST(ChildEnvironment, CallersExplicitValuesWin) {
    const std::string other_policy = write_policy("version = 1\n");
    const Fields env = child_environment(protected_env(default_policy()),
                                         "LD_PRELOAD=/nonexistent/libother.so;BINDGUARD_SERVICE=child-svc;"
                                         "BINDGUARD_POLICY=" + other_policy);
    EXPECT_EQ(env.at("LD_PRELOAD"), bgtest::preload_value() + ":/nonexistent/libother.so");
    EXPECT_EQ(env.at("BINDGUARD_SERVICE"), "child-svc");
    EXPECT_EQ(env.at("BINDGUARD_POLICY"), other_policy);
}

// The library already listed: not added twice; the missing settings still come back.
TEST(ChildEnvironment, NoDuplicateWhenAlreadyPreloaded) {
    const Fields env = child_environment(protected_env(default_policy()), "LD_PRELOAD=" + bgtest::preload_value());
    EXPECT_EQ(env.at("LD_PRELOAD"), bgtest::preload_value());
    EXPECT_EQ(env.at("BINDGUARD_SERVICE"), "svc-parent");
}

// Listed under another name of the same file (a symlink): recognised, not added.
TEST(ChildEnvironment, SameLibraryUnderAnotherNameRecognised) {
    const std::string link = bgtest::temp_dir() + "/libbindguard.so";
    ASSERT_EQ(symlink(bgtest::shim_path().c_str(), link.c_str()), 0);
    std::string value = bgtest::preload_value();
    value.replace(value.rfind(bgtest::shim_path()), bgtest::shim_path().size(), link);
    const Fields env = child_environment(protected_env(default_policy()), "LD_PRELOAD=" + value);
    EXPECT_EQ(env.at("LD_PRELOAD"), value);
}

// Several LD_PRELOAD entries: the dynamic loader uses the last one, so that one
// is kept (after ours) and the child gets exactly one.
TEST(ChildEnvironment, SeveralPreloadEntriesBecomeOne) {
    const Fields env = child_environment(protected_env(default_policy()),
                                         "LD_PRELOAD=/nonexistent/liba.so;LD_PRELOAD=/nonexistent/libb.so");
    EXPECT_EQ(env.at("LD_PRELOAD"), bgtest::preload_value() + ":/nonexistent/libb.so");
    EXPECT_EQ(env.at("preload_entries"), "1");
}

// An environment too large for the stack buffer (5000 entries) is built in an
// anonymous mapping: same result, every entry kept.
TEST(ChildEnvironment, LargeEnvironment) {
    for (const char* entry : {"execve", "posix_spawn"}) {
        const Fields env = child_environment(protected_env(default_policy()), "", entry, {"BGCT_EXTRA=5000"});
        EXPECT_EQ(env.at("LD_PRELOAD"), bgtest::preload_value()) << entry;
        EXPECT_EQ(env.at("BINDGUARD_SERVICE"), "svc-parent") << entry;
        EXPECT_EQ(env.at("extra"), "5000") << entry;
    }
}

// A relative BINDGUARD_POLICY is given to the child as the absolute path it
// meant when the parent started (the child may run in another directory).
TEST(ChildEnvironment, RelativePolicyPathMadeAbsolute) {
    const std::string policy = write_policy("version = 1\n");
    const std::string directory = policy.substr(0, policy.rfind('/'));
    char resolved[PATH_MAX];
    ASSERT_NE(realpath(directory.c_str(), resolved), nullptr);
    std::string assignments;
    for (const auto& entry : bgtest::shim_env()) assignments += " '" + entry + "'";
    // $0 is the helper: cd into the policy's directory, start the helper there
    // with a relative BINDGUARD_POLICY, and let it execve its own printenv.
    const auto direct = bgtest::run({"sh", "-c",
                                     "cd '" + directory + "' && exec env" + assignments +
                                         " BINDGUARD_POLICY=policy.toml \"$0\" exec execve given \"$0\" printenv",
                                     childtest()},
                                    {"-LD_PRELOAD", "-BINDGUARD_POLICY", "-BINDGUARD_SERVICE"});
    EXPECT_EQ(environment_report(direct.out).at("BINDGUARD_POLICY"), std::string(resolved) + "/policy.toml")
        << diagnose(direct);
}

// A set-uid program (here a set-uid root copy of the helper, run by nobody) with
// the library in /etc/ld.so.preload: it runs in glibc's secure-execution mode, so
// neither it nor the programs it starts may take BINDGUARD_POLICY or
// BINDGUARD_SERVICE from its caller (the sudo case): a set-uid bg-bindtest given the
// caller's allow-all policy binds 0.0.0.0 and must still end on loopback (the built-in
// policy: the overlay has no /etc/bindguard). /etc gets an overlay with ld.so.preload in
// private mount and network namespaces; the real /etc is never written, and nothing is
// bound on the host.
TEST(ChildEnvironment, SetuidProgramDoesNotPassItsCallersSettingsOn) {
    const std::string directory = bgtest::temp_dir();
    ASSERT_EQ(chmod(directory.c_str(), 0755), 0);
    const std::string policy = write_policy("version = 1\n[default]\naction = \"allow\"\n");
    ASSERT_EQ(chmod(policy.c_str(), 0644), 0);
    std::string preload_lines;
    for (std::string rest = bgtest::preload_value(); !rest.empty();) {
        const auto colon = rest.find(':');
        preload_lines += rest.substr(0, colon) + "\n";
        rest = colon == std::string::npos ? "" : rest.substr(colon + 1);
    }
    bgtest::write_file(directory + "/ld.so.preload", preload_lines);
    const std::string script =
        "set -e; D=\"$1\"; ip link set lo up; mount -t tmpfs tmpfs \"$D/t\"; mkdir \"$D/t/upper\" \"$D/t/work\"; "
        "mount -t overlay overlay -o lowerdir=/etc,upperdir=\"$D/t/upper\",workdir=\"$D/t/work\" /etc; "
        "rm -rf /etc/bindguard; "
        "cp \"$D/ld.so.preload\" /etc/ld.so.preload; cp \"$2\" \"$D/t/setuid\"; chmod 4755 \"$D/t/setuid\"; "
        "cp \"$4\" \"$D/t/setuid-bind\"; chmod 4755 \"$D/t/setuid-bind\"; "
        "as_caller() { setpriv --reuid=65534 --regid=65534 --clear-groups env BINDGUARD_POLICY=\"$3\" "
        "BINDGUARD_SERVICE=proxy \"$@\"; }; "
        // Its report is what is checked, not its status (a sanitized build's leak check
        // at exit sets that).
        "as_caller \"$D/t/setuid\" exec execve given \"$2\" printenv || :; "
        "as_caller \"$D/t/setuid-bind\" bind tcp 0.0.0.0:0 listen";
    ASSERT_EQ(mkdir((directory + "/t").c_str(), 0755), 0);
    const auto result =
        bgtest::run({"unshare", "-m", "-n", "sh", "-c", script, "sh", directory, childtest(), policy, bgtest::helper_path()},
                    {"-LD_PRELOAD", "-BINDGUARD_POLICY", "-BINDGUARD_SERVICE", "-ASAN_OPTIONS"});
    const auto report = environment_report(result.out);
    ASSERT_EQ(report.count("BINDGUARD_POLICY"), 1u) << diagnose(result);
    EXPECT_EQ(report.at("BINDGUARD_POLICY"), "<unset>") << diagnose(result);
    EXPECT_EQ(report.at("BINDGUARD_SERVICE"), "<unset>") << diagnose(result);
    // Its own bind: the caller's "allow" is ignored, the wildcard is rewritten.
    const Fields bound = line_fields(result.out, "ret=");
    ASSERT_EQ(bound.count("local"), 1u) << diagnose(result);
    EXPECT_EQ(bound.at("ret"), "0") << diagnose(result);
    EXPECT_TRUE(starts_with(bound.at("local"), "127.0.0.1:")) << diagnose(result);
    EXPECT_NE(result.err.find("rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0 rule=default"), std::string::npos)
        << diagnose(result);
}

// Soak: a protected parent starts 1500 children with an empty
// environment (each gets the library back), by the two routes that rebuild the
// environment in the parent's memory (posix_spawn; a vfork child shares it); its
// resident size stays flat, i.e. the rebuilt environment is given back every time.
TEST(Soak, ParentStartingThousandsOfChildrenWithEmptyEnvironmentsKeepsAFlatResidentSize) {
    // Under ASan every child loads the sanitizer runtime (25 times slower) and the
    // parent's allocator keeps a quarantine: fewer children, a wider margin.
    const bool sanitized = bgtest::sanitized_build();
    const int children = sanitized ? 300 : 1500;
    const long margin_kib = sanitized ? 1024 : 256;
    for (const char* entry : {"posix_spawn", "vfork-execve"}) {
        std::vector<std::string> env = protected_env(default_policy());
        env.insert(env.begin(), {"-LD_PRELOAD", "-BINDGUARD_POLICY", "-BINDGUARD_SERVICE", "-ASAN_OPTIONS"});
        const auto result =
            bgtest::run({childtest(), "spawn-loop", std::to_string(children), entry, "/bin/true"}, env, std::chrono::seconds(150));
        const auto f = line_fields(result.out, "rss_warm=");
        ASSERT_EQ(f.count("rss_end"), 1u) << entry << "\n" << diagnose(result);
        EXPECT_EQ(f.at("failures"), "0") << entry;
        const long growth = std::stol(f.at("rss_end")) - std::stol(f.at("rss_warm"));
        EXPECT_LE(growth, margin_kib) << entry << ": resident size grew by " << growth << " KiB over "
                                      << children * 9 / 10 << " children";
    }
}

// ----------------------------------------------------------- Node, env: {}

// The row-17 case itself: a Node parent spawns a Node server with env: {}; the
// child's server must end on loopback (/proc/net, the socket's local address).
TEST(NodeChild, EnvEmptyChildListensOnLoopback) {
    const std::uint16_t port = bgtest::free_port();
    auto parent = bgtest::Process::start({"node", node_parent(), std::to_string(port), "hold"},
                                         protected_env(default_policy()));
    const auto socket = bgtest::wait_for_listener(port);
    ASSERT_TRUE(socket.has_value()) << parent.err_so_far();
    EXPECT_TRUE(socket->local == "[::ffff:127.0.0.1]:" + std::to_string(port) ||
                socket->local == "127.0.0.1:" + std::to_string(port))
        << socket->local;
    const auto result = parent.stop();
    EXPECT_NE(result.out.find("child address=::ffff:127.0.0.1 port=" + std::to_string(port) + " preload=" +
                              bgtest::preload_value()),
              std::string::npos)
        << diagnose(result);
    EXPECT_NE(result.err.find("rewrite tcp [::]:" + std::to_string(port)), std::string::npos) << diagnose(result);
}

// The same in a private network namespace, with the variants that bind the
// wildcard: without the library, and with [children] inherit = false.
TEST(NodeChild, EnvEmptyVariantsInNetns) {
    const std::string port = "4100";
    const std::vector<std::string> argv{"node", node_parent(), port, "once"};
    const auto with_library = run_in_netns(argv, protected_env(default_policy()));
    EXPECT_NE(with_library.out.find("child address=::ffff:127.0.0.1 port=" + port), std::string::npos)
        << diagnose(with_library);

    const auto without = run_in_netns(argv, {});
    EXPECT_NE(without.out.find("child address=:: port=" + port + " preload=-"), std::string::npos)
        << diagnose(without);

    const auto not_inherited = run_in_netns(argv, protected_env(no_inherit_policy()));
    EXPECT_NE(not_inherited.out.find("child address=:: port=" + port + " preload=-"), std::string::npos)
        << diagnose(not_inherited);
}

}  // namespace
