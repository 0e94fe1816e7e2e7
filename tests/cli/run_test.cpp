// `bindguard run`: rows 18, 19 and 20 of BINDING-CASES.md with real programs - a static
// binary, a (fake) Go binary, set-uid/set-gid/capability copies, scripts, a broken
// library - each refused before it starts; and what a started program gets.
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "cli_support.hpp"

using clitest::bindguard;

namespace {

// A fresh path for a marker file that a fixture program creates when it runs.
std::string marker_path() { return bgtest::temp_dir() + "/started"; }

// Runs `bindguard run [options] -- program... marker` in the test environment.
// Returns what it did.
bgtest::Result run_marker(const std::vector<std::string>& options, const std::vector<std::string>& program,
                          const std::string& marker, std::vector<std::string> env = {}) {
    std::vector<std::string> args = {"run"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back("--");
    args.insert(args.end(), program.begin(), program.end());
    args.push_back(marker);
    std::vector<std::string> full_env = clitest::preload_env();
    full_env.insert(full_env.end(), env.begin(), env.end());
    return bindguard(args, full_env);
}

// Copies the dynamic marker program to a new temporary file with mode. Returns its path.
std::string marker_copy(mode_t mode) {
    std::string copy = bgtest::temp_dir() + "/marker-copy";
    std::filesystem::copy_file(BG_CLI_MARKER, copy);
    EXPECT_EQ(::chmod(copy.c_str(), mode), 0);
    return copy;
}

// Writes an executable script. Returns its path.
std::string script(const std::string& text) {
    std::string path = bgtest::temp_dir() + "/script";
    bgtest::write_file(path, text);
    EXPECT_EQ(::chmod(path.c_str(), 0755), 0);
    return path;
}

// Expects a refusal with exit 126 naming `reason` and the way out, and no program started.
void expect_refused(const bgtest::Result& result, const std::string& marker, const std::string& reason) {
    EXPECT_EQ(result.status, 126) << result.err;
    EXPECT_NE(result.err.find("refusing to start"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(reason), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("--force"), std::string::npos) << result.err;
    EXPECT_FALSE(clitest::exists(marker)) << "the program was started";
    EXPECT_EQ(result.out, "");
}

}  // namespace

TEST(CliRun, ControlADynamicProgramStarts) {
    std::string marker = marker_path();
    bgtest::Result result = run_marker({}, {BG_CLI_MARKER}, marker);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.err, "");
    EXPECT_TRUE(clitest::exists(marker));
}

TEST(CliRun, Row18StaticProgramIsRefused) {
    std::string marker = marker_path();
    expect_refused(run_marker({}, {BG_CLI_MARKER_STATIC}, marker), marker, "statically linked");
}

TEST(CliRun, Row18GoProgramIsRefused) {
    std::string marker = marker_path();
    expect_refused(run_marker({}, {BG_CLI_MARKER_GO}, marker), marker, "Go program");
}

TEST(CliRun, Row18GoProgramIsRecognisedByItsNoteToo) {
    std::string marker = marker_path();
    expect_refused(run_marker({}, {BG_CLI_MARKER_GO_NOTE}, marker), marker, "Go program");
}

TEST(CliRun, ProgramForAnotherMachineIsRefused) {
    // The loader would skip a library of another ELF class or machine and run the
    // program unprotected (e.g. a 32-bit program): a copy with another e_machine.
    std::string marker = marker_path();
    std::string copy = marker_copy(0755);
    std::string bytes = bgtest::read_file(copy);
    ASSERT_GT(bytes.size(), 20u);
    // e_machine (little-endian, offset 18): aarch64 (183), or x86-64 (62) on aarch64.
    bool on_aarch64 = static_cast<unsigned char>(bytes[18]) == 183 && bytes[19] == 0;
    bytes[18] = static_cast<char>(on_aarch64 ? 62 : 183);
    bytes[19] = 0;
    bgtest::write_file(copy, bytes);
    bgtest::Result result = run_marker({}, {copy}, marker);
    expect_refused(result, marker, on_aarch64 ? "is a 64-bit x86-64 program but the library is 64-bit aarch64"
                                              : "is a 64-bit aarch64 program but the library is 64-bit");
}

TEST(CliRun, Row18SetUidProgramIsRefused) {
    std::string marker = marker_path();
    std::string copy = marker_copy(04755);
    expect_refused(run_marker({}, {copy}, marker), marker, "set-uid");
}

TEST(CliRun, Row18SetGidProgramIsRefused) {
    std::string marker = marker_path();
    std::string copy = marker_copy(02755);
    expect_refused(run_marker({}, {copy}, marker), marker, "set-gid");
}

TEST(CliRun, Row18FileCapabilitiesAreRefused) {
    std::string marker = marker_path();
    std::string copy = marker_copy(0755);
    bgtest::Result setcap = bgtest::run({"setcap", "cap_net_bind_service+ep", copy});
    ASSERT_EQ(setcap.status, 0) << "setcap (package libcap2-bin) is needed: " << setcap.err;
    expect_refused(run_marker({}, {copy}, marker), marker, "file capabilities");
}

TEST(CliRun, Row18ScriptIsJudgedByItsInterpreter) {
    std::string marker = marker_path();
    std::string path = script(std::string("#!") + BG_CLI_MARKER_STATIC + "\n");
    bgtest::Result result = run_marker({}, {path}, marker);
    expect_refused(result, marker, "statically linked");
    EXPECT_NE(result.err.find(std::string("its interpreter ") + BG_CLI_MARKER_STATIC), std::string::npos) << result.err;
}

TEST(CliRun, Row18EnvShebangIsResolvedOnPath) {
    std::string marker = marker_path();
    std::string bin = bgtest::temp_dir();
    std::filesystem::copy_file(BG_CLI_MARKER_STATIC, bin + "/bg-static-interp");
    ASSERT_EQ(::chmod((bin + "/bg-static-interp").c_str(), 0755), 0);
    std::string path = script("#!/usr/bin/env bg-static-interp\n");
    std::string search = "PATH=" + bin + ":" + ::getenv("PATH");
    bgtest::Result result = run_marker({}, {path}, marker, {search});
    expect_refused(result, marker, "statically linked");
    EXPECT_NE(result.err.find(bin + "/bg-static-interp"), std::string::npos) << result.err;
}

TEST(CliRun, ScriptWithADynamicInterpreterStarts) {
    std::string marker = marker_path();
    std::string path = script("#!/bin/sh\necho started > \"$1\"\n");
    bgtest::Result result = run_marker({}, {path}, marker);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_TRUE(clitest::exists(marker));
}

TEST(CliRun, Row18ForceRunsItAnywayWithAWarning) {
    std::string marker = marker_path();
    bgtest::Result result = run_marker({"--force"}, {BG_CLI_MARKER_STATIC}, marker);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_TRUE(clitest::exists(marker));
    EXPECT_NE(result.err.find("warning"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("UNPROTECTED"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("statically linked"), std::string::npos) << result.err;
}

TEST(CliRun, Row19UnloadableLibraryIsRefused) {
    std::string marker = marker_path();
    std::string fake = clitest::temp_file("libbindguard.so", "this is not an ELF file\n");
    bgtest::Result result = run_marker({}, {BG_CLI_MARKER}, marker, {"BINDGUARD_SHIM=" + fake});
    EXPECT_EQ(result.status, 126);
    EXPECT_NE(result.err.find("refusing to start"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("cannot be loaded"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find(fake), std::string::npos) << result.err;  // dlerror() names the file
    EXPECT_FALSE(clitest::exists(marker));
    // --force is about the program, not about a broken library.
    result = run_marker({"--force"}, {BG_CLI_MARKER}, marker, {"BINDGUARD_SHIM=" + fake});
    EXPECT_EQ(result.status, 126) << result.err;
    EXPECT_FALSE(clitest::exists(marker));
}

TEST(CliRun, Row19MissingLibraryIsRefused) {
    std::string marker = marker_path();
    bgtest::Result result = run_marker({}, {BG_CLI_MARKER}, marker, {"BINDGUARD_SHIM=/nonexistent/libbindguard.so"});
    EXPECT_EQ(result.status, 126);
    EXPECT_NE(result.err.find("/nonexistent/libbindguard.so"), std::string::npos) << result.err;
    EXPECT_FALSE(clitest::exists(marker));
}

TEST(CliRun, Row19LibraryPathThatLdPreloadCannotExpressIsRefused) {
    // The loader splits LD_PRELOAD at spaces and colons: a real, loadable copy of the
    // library under such a path would silently not be loaded.
    std::string marker = marker_path();
    std::string dir = bgtest::temp_dir() + "/with space";
    std::filesystem::create_directory(dir);
    std::filesystem::copy_file(bgtest::shim_path(), dir + "/libbindguard.so");
    bgtest::Result result = run_marker({}, {BG_CLI_MARKER}, marker, {"BINDGUARD_SHIM=" + dir + "/libbindguard.so"});
    EXPECT_EQ(result.status, 126);
    EXPECT_NE(result.err.find("contains a space or ':'"), std::string::npos) << result.err;
    EXPECT_FALSE(clitest::exists(marker));
}

TEST(CliRun, Row20InvalidPolicyExits2AndDoesNotStart) {
    std::string marker = marker_path();
    std::string policy = clitest::temp_file("bad.toml", "version = 1\n[default]\naction = \"expose\"\n");
    bgtest::Result result = run_marker({"--policy", policy}, {BG_CLI_MARKER}, marker);
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with(policy + ":3:")) << result.err;  // the same line as `check`
    EXPECT_EQ(clitest::lines(result.err).front(), clitest::lines(bindguard({"check", policy}).err).front());
    EXPECT_FALSE(clitest::exists(marker));
}

TEST(CliRun, Row20MissingPolicyFromEnvironmentExits2) {
    std::string marker = marker_path();
    bgtest::Result result = run_marker({}, {BG_CLI_MARKER}, marker, {"BINDGUARD_POLICY=/nonexistent/policy.toml"});
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with("/nonexistent/policy.toml:1:1: error: ")) << result.err;
    EXPECT_FALSE(clitest::exists(marker));
}

TEST(CliRun, Row20InvalidSystemPolicyExits2) {
    std::string marker = marker_path();
    std::vector<std::string> env = clitest::preload_env();
    bgtest::Result result = clitest::bindguard_with_system_policy("version = 1\n[log]\nto = \"file\"\n",
                                                                  {"run", BG_CLI_MARKER, marker}, env);
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with("/etc/bindguard/policy.toml:")) << result.err;
    EXPECT_NE(result.err.find("refusing to start"), std::string::npos) << result.err;
    EXPECT_FALSE(clitest::exists(marker));
}

TEST(CliRun, CommandNotFoundExits127) {
    bgtest::Result result = bindguard({"run", "bg-no-such-command-anywhere"}, clitest::preload_env());
    EXPECT_EQ(result.status, 127);
    EXPECT_EQ(result.err, "bindguard: bg-no-such-command-anywhere: command not found\n");
    result = bindguard({"run", "/nonexistent/program"}, clitest::preload_env());
    EXPECT_EQ(result.status, 127);
    EXPECT_NE(result.err.find("No such file or directory"), std::string::npos) << result.err;
}

TEST(CliRun, NotExecutableExits126) {
    std::string path = clitest::temp_file("not-executable", "#!/bin/sh\ntouch \"$1\"\n");
    bgtest::Result result = bindguard({"run", path}, clitest::preload_env());
    EXPECT_EQ(result.status, 126);
    EXPECT_EQ(result.err, "bindguard: " + path + ": Permission denied\n");
    result = bindguard({"run", bgtest::temp_dir()}, clitest::preload_env());
    EXPECT_EQ(result.status, 126);
    EXPECT_NE(result.err.find("Is a directory"), std::string::npos) << result.err;
}

TEST(CliRun, CommandIsFoundOnPath) {
    std::string marker = marker_path();
    std::string bin = bgtest::temp_dir();
    std::filesystem::copy_file(BG_CLI_MARKER, bin + "/bg-marker-on-path");
    ASSERT_EQ(::chmod((bin + "/bg-marker-on-path").c_str(), 0755), 0);
    bgtest::Result result = run_marker({}, {"bg-marker-on-path"}, marker, {"PATH=/nonexistent:" + bin + ":/usr/bin:/bin"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_TRUE(clitest::exists(marker));
}

TEST(CliRun, MissingCommandIsAUsageError) {
    bgtest::Result result = bindguard({"run", "--service", "web"}, clitest::preload_env());
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("COMMAND"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("Usage: bindguard run"), std::string::npos) << result.err;
}

TEST(CliRun, ProgramOptionsAreNotBindguards) {
    // Everything from COMMAND on belongs to the program, even what looks like our options.
    bgtest::Result result = bindguard({"run", "sh", "-c", "echo \"$@\"", "sh", "--force", "--help", "--policy"},
                                      clitest::preload_env());
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "--force --help --policy\n");
}

TEST(CliRun, ExecKeepsPidAndExitStatus) {
    bgtest::Process process = bgtest::Process::start(
        {bgtest::cli_path(), "run", "--", "sh", "-c", "echo $$; exit 7"}, clitest::preload_env());
    pid_t started_as = process.pid();
    bgtest::Result result = process.stop(0, std::chrono::seconds(20));  // signal 0: just wait
    EXPECT_EQ(result.status, 7) << result.err;
    EXPECT_EQ(result.out, std::to_string(started_as) + "\n");
}

TEST(CliRun, SignalsReachTheProgram) {
    bgtest::Process process = bgtest::Process::start({bgtest::cli_path(), "run", "--", "sleep", "30"}, clitest::preload_env());
    // Wait until bindguard has exec'ed sleep in the same process.
    std::string exe;
    for (int i = 0; i < 200 && exe.find("sleep") == std::string::npos; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        std::error_code error;
        exe = std::filesystem::read_symlink("/proc/" + std::to_string(process.pid()) + "/exe", error).string();
    }
    ASSERT_NE(exe.find("sleep"), std::string::npos) << exe;
    bgtest::Result result = process.stop(SIGTERM);
    EXPECT_EQ(result.status, 128 + SIGTERM);
}

TEST(CliRun, EnvironmentForTheProgram) {
    std::string dir = bgtest::temp_dir();
    bgtest::write_file(dir + "/policy.toml", "version = 1\n");
    std::string printer = "printf '%s|%s|%s' \"$LD_PRELOAD\" \"$BINDGUARD_POLICY\" \"$BINDGUARD_SERVICE\"";
    std::vector<std::string> env = clitest::preload_env();
    env.push_back("LD_PRELOAD=" + std::string(BG_CLI_DUMMY_PRELOAD));
    // A relative --policy becomes absolute; --service is passed on.
    bgtest::Result result = bgtest::run({"sh", "-c", "cd \"$1\" && exec \"$2\" run --policy ./policy.toml --service web -- sh -c \"$3\"",
                          "sh", dir, bgtest::cli_path(), printer},
                         env);
    ASSERT_EQ(result.status, 0) << result.err;
    char shim[PATH_MAX];
    ASSERT_NE(::realpath(bgtest::shim_path().c_str(), shim), nullptr);
    EXPECT_EQ(result.out, std::string(shim) + ":" + BG_CLI_DUMMY_PRELOAD + "|" + dir + "/policy.toml|web");
}

TEST(CliRun, LibraryIsNotDuplicatedInPreload) {
    char shim[PATH_MAX];
    ASSERT_NE(::realpath(bgtest::shim_path().c_str(), shim), nullptr);
    std::vector<std::string> env = clitest::preload_env();
    env.push_back("LD_PRELOAD=" + std::string(BG_CLI_DUMMY_PRELOAD) + ":" + shim);
    bgtest::Result result = bindguard({"run", "sh", "-c", "printf %s \"$LD_PRELOAD\""}, env);
    ASSERT_EQ(result.status, 0) << result.err;
    // bindguard itself ran with the library preloaded here, and in a sanitizer build the
    // library puts the sanitizer runtime first into what its host execs; that entry aside,
    // the list is the library once, then the rest.
    std::vector<std::string> entries;
    std::istringstream in(result.out);
    for (std::string entry; std::getline(in, entry, ':');)
        if (!(bgtest::sanitized_build() && entry.find("libasan") != std::string::npos)) entries.push_back(entry);
    EXPECT_EQ(entries, (std::vector<std::string>{shim, BG_CLI_DUMMY_PRELOAD})) << result.out;
}

TEST(CliRun, EndToEndTheBindEndsOnLoopback) {
    // In a private network namespace, so that a failure could not expose anything.
    for (const char* address : {"0.0.0.0:0", "[::]:0"}) {
        bgtest::Result result = bgtest::run(
            {"unshare", "-n", bgtest::cli_path(), "run", "--", bgtest::helper_path(), "bind", "tcp", address, "listen"},
            clitest::preload_env());
        EXPECT_EQ(result.status, 0) << result.err;
        std::string expected = std::string(address)[0] == '[' ? "local=[::ffff:127.0.0.1]:" : "local=127.0.0.1:";
        EXPECT_NE(result.out.find("ret=0 errno=0"), std::string::npos) << result.out;
        EXPECT_NE(result.out.find(expected), std::string::npos) << address << ": " << result.out;
        EXPECT_NE(result.err.find("rewrite tcp"), std::string::npos) << result.err;  // the library's log line
    }
}

// dockerd, containerd and docker-proxy are refused before either mode starts anything: Docker's
// packet rules publish on every interface, wherever their sockets end up. Copies of the marker
// program under those names (and a symlink with another name to one of them) must not start.
TEST(CliRun, DockerProgramsAreRefusedWithTheLibraryAndTheKernelTwin) {
    std::string bin = bgtest::temp_dir();
    for (const std::string name : {"dockerd", "containerd", "docker-proxy"}) {
        std::filesystem::copy_file(BG_CLI_MARKER, bin + "/" + name);
        ASSERT_EQ(::chmod((bin + "/" + name).c_str(), 0755), 0);
    }
    std::filesystem::create_symlink(bin + "/dockerd", bin + "/engine");
    for (const std::string command : {"dockerd", "containerd", "docker-proxy", "engine"}) {
        for (const std::vector<std::string>& options : {std::vector<std::string>{}, {"--kernel"}, {"--force"}}) {
            SCOPED_TRACE(command + (options.empty() ? "" : " " + options.front()));
            std::string marker = marker_path();
            bgtest::Result result = run_marker(options, {bin + "/" + command}, marker);
            EXPECT_EQ(result.status, 126) << result.err;
            EXPECT_NE(result.err.find("refusing to start " + bin + "/" + command), std::string::npos) << result.err;
            EXPECT_NE(result.err.find("packet rules"), std::string::npos) << result.err;
            EXPECT_NE(result.err.find("bindguard docker authz"), std::string::npos) << result.err;
            EXPECT_NE(result.err.find("bindguard protect docker"), std::string::npos) << result.err;
            EXPECT_FALSE(clitest::exists(marker)) << "the program was started";
        }
    }
    // Found on PATH by name, too.
    std::string marker = marker_path();
    bgtest::Result result = run_marker({}, {"containerd"}, marker, {"PATH=" + bin + ":/usr/bin:/bin"});
    EXPECT_EQ(result.status, 126) << result.err;
    EXPECT_FALSE(clitest::exists(marker));
}

// A program whose name only contains one of theirs runs.
TEST(CliRun, DockerRefusalIsByExactName) {
    std::string bin = bgtest::temp_dir();
    std::filesystem::copy_file(BG_CLI_MARKER, bin + "/dockerd-exporter");
    ASSERT_EQ(::chmod((bin + "/dockerd-exporter").c_str(), 0755), 0);
    std::string marker = marker_path();
    bgtest::Result result = run_marker({}, {bin + "/dockerd-exporter"}, marker);
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_TRUE(clitest::exists(marker));
}
