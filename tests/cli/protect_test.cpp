// `bindguard protect` / `unprotect`: drop-ins for Debian's real units (copies of
// /lib/systemd/system/{nginx,redis-server,postgresql@}.service under a temporary root, so
// that the real /etc is never written), checked with the real `systemd-analyze verify`.
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

#include "cli_support.hpp"

using clitest::bindguard;

namespace {

// A temporary root holding copies of Debian's units (and nothing in its etc/). Returns it.
std::string root_with_debian_units() {
    std::string root = bgtest::temp_dir();
    std::filesystem::create_directories(root + "/lib/systemd/system");
    for (const char* unit : {"nginx.service", "redis-server.service", "postgresql@.service", "caddy.service"}) {
        std::string from = std::string("/lib/systemd/system/") + unit;
        EXPECT_TRUE(clitest::exists(from)) << from
                                           << " is missing: run scripts/setup (nginx, redis-server, postgresql-15, caddy)";
        std::filesystem::copy_file(from, root + "/lib/systemd/system/" + unit);
    }
    return root;
}

// `systemd-analyze verify UNIT` with the units of root (its etc/ drop-ins included).
bgtest::Result verify(const std::string& root, const std::string& unit) {
    std::string path = root + "/etc/systemd/system:" + root + "/lib/systemd/system:";
    return bgtest::run({"sh", "-c", "cd / && exec systemd-analyze verify \"$0\"", unit}, {"SYSTEMD_UNIT_PATH=" + path});
}

// realpath(3) of the built library, as the drop-in names it.
std::string shim_real_path() {
    char buf[PATH_MAX];
    return ::realpath(bgtest::shim_path().c_str(), buf) ? buf : bgtest::shim_path();
}

// realpath(3) of the built command, as the --kernel drop-in names it.
std::string cli_real_path() {
    char buf[PATH_MAX];
    return ::realpath(bgtest::cli_path().c_str(), buf) ? buf : bgtest::cli_path();
}

// The settings of a drop-in (its lines but the comments).
std::vector<std::string> settings_of(const std::string& text) {
    std::vector<std::string> settings;
    for (const std::string& line : clitest::lines(text))
        if (!line.starts_with("#")) settings.push_back(line);
    return settings;
}

// Expects verify() to pass without a word about the drop-in.
void expect_verified(const std::string& root, const std::string& unit) {
    bgtest::Result verified = verify(root, unit);
    EXPECT_EQ(verified.status, 0) << verified.out << verified.err;
    EXPECT_EQ(verified.err.find("bindguard.conf"), std::string::npos) << verified.err;
}

}  // namespace

TEST(CliProtect, NginxAsTheProxyWithBackstop) {
    std::string root = root_with_debian_units();
    std::string policy = bgtest::source_dir() + "/examples/policy/proxy.toml";
    bgtest::Result result = bindguard({"protect", "nginx", "--root", root, "--service", "proxy", "--policy", policy, "--backstop"},
                                      {"-BINDGUARD_SHIM"});
    ASSERT_EQ(result.status, 0) << result.err;
    std::string dropin = root + "/etc/systemd/system/nginx.service.d/bindguard.conf";
    EXPECT_NE(result.out.find("wrote " + dropin), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("systemctl daemon-reload && systemctl restart nginx.service"), std::string::npos) << result.out;
    std::string text = bgtest::read_file(dropin);
    EXPECT_TRUE(text.starts_with("# Written by `bindguard protect nginx.service`")) << text;
    std::vector<std::string> settings;
    for (const std::string& line : clitest::lines(text))
        if (!line.starts_with("#")) settings.push_back(line);
    EXPECT_EQ(settings, (std::vector<std::string>{"[Service]", "Environment=\"LD_PRELOAD=" + shim_real_path() + "\"",
                                                  "Environment=\"BINDGUARD_POLICY=" + policy + "\"",
                                                  "Environment=\"BINDGUARD_SERVICE=proxy\"", "SocketBindAllow=tcp:80",
                                                  "SocketBindAllow=tcp:443", "SocketBindDeny=any"}));
    expect_verified(root, "nginx.service");
    EXPECT_FALSE(clitest::exists("/etc/systemd/system/nginx.service.d/bindguard.conf"));  // the real /etc: untouched
}

TEST(CliProtect, RedisKeepsTheLibraryExecutableUnderNoExecPaths) {
    std::string root = root_with_debian_units();
    bgtest::Result result = bindguard({"protect", "redis-server.service", "--root", root}, {"-BINDGUARD_SHIM"});
    ASSERT_EQ(result.status, 0) << result.err;
    std::string text = bgtest::read_file(root + "/etc/systemd/system/redis-server.service.d/bindguard.conf");
    EXPECT_NE(text.find("\nEnvironment=\"BINDGUARD_SERVICE=redis-server\"\n"), std::string::npos) << text;
    EXPECT_EQ(text.find("BINDGUARD_POLICY"), std::string::npos) << text;  // no --policy: the library's own lookup
    std::string shim = shim_real_path();
    EXPECT_NE(text.find("\nExecPaths=" + shim.substr(0, shim.rfind('/')) + "\n"), std::string::npos) << text;
    expect_verified(root, "redis-server.service");
}

TEST(CliProtect, PostgresInstanceUsesItsTemplate) {
    std::string root = root_with_debian_units();
    bgtest::Result result = bindguard({"protect", "postgresql@15-main.service", "--root", root, "--service", "db"},
                                      {"-BINDGUARD_SHIM"});
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("/usr/bin/pg_ctlcluster"), std::string::npos) << result.out;  // a Perl script: perl is checked
    std::string text = bgtest::read_file(root + "/etc/systemd/system/postgresql@15-main.service.d/bindguard.conf");
    EXPECT_NE(text.find("\nEnvironment=\"BINDGUARD_SERVICE=db\"\n"), std::string::npos) << text;
    expect_verified(root, "postgresql@15-main.service");
}

TEST(CliProtect, KeepsAnLdPreloadTheUnitAlreadySets) {
    std::string root = root_with_debian_units();
    std::filesystem::create_directories(root + "/etc/systemd/system/nginx.service.d");
    bgtest::write_file(root + "/etc/systemd/system/nginx.service.d/10-preload.conf",
                       "[Service]\nEnvironment=\"LD_PRELOAD=/usr/lib/libjemalloc.so.2\" OTHER=1\n");
    bgtest::Result result = bindguard({"protect", "nginx", "--root", root, "--dry-run"}, {"-BINDGUARD_SHIM"});
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("\nEnvironment=\"LD_PRELOAD=" + shim_real_path() + ":/usr/lib/libjemalloc.so.2\"\n"),
              std::string::npos)
        << result.out;
    // --dry-run writes nothing.
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/nginx.service.d/bindguard.conf"));
}

TEST(CliProtect, RefusesAProgramTheLibraryCannotProtect) {
    std::string root = bgtest::temp_dir();
    std::filesystem::create_directories(root + "/lib/systemd/system");
    bgtest::write_file(root + "/lib/systemd/system/caddy.service",
                       "[Service]\nExecStart=/usr/bin/caddy run --config /etc/caddy/Caddyfile\n");
    bgtest::Result result = bindguard({"protect", "caddy", "--root", root}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 126) << result.out << result.err;
    EXPECT_NE(result.err.find("refusing to protect caddy.service"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("is a Go program"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("bindguard run --kernel"), std::string::npos) << result.err;
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/caddy.service.d"));
}

TEST(CliProtect, BackstopNeedsPortsForTheService) {
    std::string root = root_with_debian_units();
    bgtest::Result result = bindguard({"protect", "redis-server", "--root", root, "--backstop", "--policy",
                                       bgtest::source_dir() + "/examples/doable/policy.toml"},
                                      {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 1) << result.out << result.err;
    EXPECT_NE(result.err.find("names no port for service redis-server"), std::string::npos) << result.err;
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/redis-server.service.d/bindguard.conf"));
}

TEST(CliProtect, UnknownUnitAndInvalidPolicy) {
    std::string root = bgtest::temp_dir();
    bgtest::Result result = bindguard({"protect", "nosuch", "--root", root}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("unit nosuch.service not found in " + root + "/etc/systemd/system"), std::string::npos)
        << result.err;
    std::string bad = clitest::temp_file("bad.toml", "version = 1\nmode = \"loud\"\n");
    result = bindguard({"protect", "nginx", "--root", root_with_debian_units(), "--policy", bad}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with(bad + ":2:")) << result.err;
    for (const char* name : {"../etc/passwd", "a'b.service", "a b", ""}) {
        result = bindguard({"protect", name});
        EXPECT_EQ(result.status, 2) << name;
        EXPECT_NE(result.err.find("invalid unit name"), std::string::npos) << name << ": " << result.err;
    }
}

TEST(CliUnprotect, RemovesOnlyItsOwnDropIn) {
    std::string root = root_with_debian_units();
    ASSERT_EQ(bindguard({"protect", "nginx", "--root", root}, {"-BINDGUARD_SHIM"}).status, 0);
    std::string dir = root + "/etc/systemd/system/nginx.service.d";
    bgtest::Result result = bindguard({"unprotect", "nginx.service", "--root", root});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("removed " + dir + "/bindguard.conf"), std::string::npos) << result.out;
    EXPECT_NE(result.out.find("systemctl daemon-reload && systemctl restart nginx.service"), std::string::npos);
    EXPECT_FALSE(clitest::exists(dir));  // the directory it made, now empty, is gone too
    expect_verified(root, "nginx.service");

    result = bindguard({"unprotect", "nginx", "--root", root});
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("nginx.service is not protected"), std::string::npos) << result.err;

    std::filesystem::create_directories(dir);
    bgtest::write_file(dir + "/bindguard.conf", "[Service]\nEnvironment=X=1\n");
    result = bindguard({"unprotect", "nginx", "--root", root});
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.err.find("was not written by `bindguard protect`"), std::string::npos) << result.err;
    EXPECT_TRUE(clitest::exists(dir + "/bindguard.conf"));
}

#if BG_CLI_KERNEL_TWIN
TEST(CliProtect, KernelTwinForAGoUnitAttachesAtEachStart) {
    // Debian's own caddy.service: a Go program, which the library cannot protect.
    std::string root = root_with_debian_units();
    std::string policy = bgtest::source_dir() + "/examples/policy/proxy.toml";
    bgtest::Result result =
        bindguard({"protect", "caddy", "--root", root, "--kernel", "--policy", policy}, {"-BINDGUARD_SHIM"});
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("bindguard audit and bindguard kernel status"), std::string::npos) << result.out;
    std::string text = bgtest::read_file(root + "/etc/systemd/system/caddy.service.d/bindguard.conf");
    EXPECT_NE(text.find("# The kernel twin keeps this service's binds on loopback"), std::string::npos) << text;
    const std::string self = cli_real_path();
    EXPECT_EQ(settings_of(text),
              (std::vector<std::string>{
                  "[Service]",
                  "ExecCondition=+" + self + " kernel attach --exec-condition --service caddy --program /usr/bin/caddy --command "
                      "\"/usr/bin/caddy run --environ --config /etc/caddy/Caddyfile\" --policy " + policy,
                  "ExecStopPost=+" + self + " kernel detach"}));  // no LD_PRELOAD: the kernel twin alone
    expect_verified(root, "caddy.service");

    ASSERT_EQ(bindguard({"unprotect", "caddy", "--root", root}).status, 0);
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/caddy.service.d"));
    expect_verified(root, "caddy.service");
}

TEST(CliProtect, KernelTwinWithThePreloadToo) {
    std::string root = root_with_debian_units();
    bgtest::Result result =
        bindguard({"protect", "nginx", "--root", root, "--kernel", "--with-preload", "--service", "proxy"},
                  {"-BINDGUARD_SHIM"});
    ASSERT_EQ(result.status, 0) << result.err;
    std::string text = bgtest::read_file(root + "/etc/systemd/system/nginx.service.d/bindguard.conf");
    const std::string self = cli_real_path();
    // Without --policy, attach looks the policy up as the library does (no --policy in the line).
    EXPECT_EQ(settings_of(text),
              (std::vector<std::string>{
                  "[Service]",
                  "ExecCondition=+" + self + " kernel attach --exec-condition --service proxy --program /usr/sbin/nginx --command "
                      "\"/usr/sbin/nginx -g daemon on; master_process on;\"",
                  "ExecStopPost=+" + self + " kernel detach", "Environment=\"LD_PRELOAD=" + shim_real_path() + "\"",
                  "Environment=\"BINDGUARD_SERVICE=proxy\""}));
    expect_verified(root, "nginx.service");

    // Attach is an ExecCondition=, which systemd runs before the unit's own ExecStartPre=
    // (Debian's `nginx -t`, which binds 0.0.0.0:80 and [::]:80); the unit's lines stay as they are.
    EXPECT_NE(bgtest::read_file(root + "/lib/systemd/system/nginx.service").find("\nExecStartPre=/usr/sbin/nginx -t "),
              std::string::npos);
    EXPECT_EQ(text.find("\nExecStartPre="), std::string::npos) << text;
    EXPECT_EQ(result.err, "") << result.err;  // nginx.service has no ExecCondition= of its own

    // --with-preload keeps the library's check: Caddy (Go) is refused; alone it is a usage error.
    result = bindguard({"protect", "caddy", "--root", root, "--kernel", "--with-preload"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 126) << result.err;
    EXPECT_NE(result.err.find("`bindguard protect caddy.service --kernel`"), std::string::npos) << result.err;
    result = bindguard({"protect", "nginx", "--root", root, "--with-preload"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 2) << result.err;
    EXPECT_NE(result.err.find("--with-preload: only with --kernel"), std::string::npos) << result.err;
}

TEST(CliProtect, KernelTwinWarnsThatTheUnitsOwnExecConditionRunsFirst) {
    // systemd runs a drop-in's ExecCondition= after the unit file's: the unit's own run
    // before the attach, unprotected. Said on stderr; the drop-in is written all the same.
    std::string root = bgtest::temp_dir();
    std::filesystem::create_directories(root + "/lib/systemd/system");
    bgtest::write_file(root + "/lib/systemd/system/cond.service",
                       "[Service]\nExecCondition=/bin/test -e /etc/hostname\nExecStart=/bin/sleep 1000\n");
    bgtest::Result result = bindguard({"protect", "cond", "--root", root, "--kernel"});
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.err.find("bindguard protect: warning: cond.service has its own ExecCondition=/bin/test -e "
                              "/etc/hostname (" + root + "/lib/systemd/system/cond.service): systemd runs it before "
                              "bindguard's `kernel attach`"),
              std::string::npos)
        << result.err;
    expect_verified(root, "cond.service");
    // Reset in a drop-in read before bindguard's: no warning.
    std::filesystem::create_directories(root + "/etc/systemd/system/cond.service.d");
    bgtest::write_file(root + "/etc/systemd/system/cond.service.d/10-reset.conf", "[Service]\nExecCondition=\n");
    result = bindguard({"protect", "cond", "--root", root, "--kernel"});
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.err, "") << result.err;
}

TEST(CliProtect, KernelTwinRefusesASystemdWithoutExecCondition) {
    // systemd before 243 ignores ExecCondition= (with a warning) and would start the unit
    // unprotected: refused. A systemctl that says which systemd it is, first on PATH.
    // --dry-run: nothing is written under the real /etc either way.
    std::string bin = bgtest::temp_dir();
    auto with_systemctl = [&](const std::string& version) {
        bgtest::write_file(bin + "/systemctl", "#!/bin/sh\n[ \"$1\" = --version ] || exec /bin/systemctl \"$@\"\n"
                                               "echo 'systemd " + version + " (" + version + ")'\necho '+PAM +AUDIT'\n");
        ::chmod((bin + "/systemctl").c_str(), 0755);
        return std::vector<std::string>{"PATH=" + bin + ":" + ::getenv("PATH")};
    };
    bgtest::Result old = bindguard({"protect", "caddy", "--kernel", "--dry-run"}, with_systemctl("241"));
    EXPECT_EQ(old.status, 126) << old.out << old.err;
    EXPECT_NE(old.err.find("bindguard protect: --kernel needs systemd 243 or later (ExecCondition=, which attaches "
                           "before anything of the unit runs); this is systemd 241, which would ignore that line and "
                           "start the unit unprotected"),
              std::string::npos)
        << old.err;
    EXPECT_EQ(old.out, "");
    bgtest::Result current = bindguard({"protect", "caddy", "--kernel", "--dry-run"}, with_systemctl("252"));
    EXPECT_EQ(current.status, 0) << current.err;
    EXPECT_NE(current.out.find("\nExecCondition=+"), std::string::npos) << current.out;
}
#else
// A build without the kernel twin (-DBINDGUARD_KERNEL=OFF): --kernel is refused, nothing written.
TEST(CliProtect, KernelIsRefusedInABuildWithoutTheKernelTwin) {
    std::string root = root_with_debian_units();
    bgtest::Result result = bindguard({"protect", "caddy", "--root", root, "--kernel"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 126) << result.err;
    EXPECT_NE(result.err.find("bindguard protect: --kernel: this build of bindguard has no kernel twin"),
              std::string::npos)
        << result.err;
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/caddy.service.d"));
}
#endif

// Debian's containerd.service (and a unit of another name that runs dockerd) are refused, with
// the library and the kernel twin alike, and nothing is written: Docker's packet rules publish
// on every interface whatever dockerd's sockets are bound to.
TEST(CliProtect, RefusesDockersDaemons) {
    std::string root = bgtest::temp_dir();
    std::filesystem::create_directories(root + "/lib/systemd/system");
    for (const char* unit : {"docker.service", "containerd.service"}) {
        std::string from = std::string("/lib/systemd/system/") + unit;
        ASSERT_TRUE(clitest::exists(from)) << from << " is missing: run scripts/setup (docker.io)";
        std::filesystem::copy_file(from, root + "/lib/systemd/system/" + unit);
    }
    bgtest::write_file(root + "/lib/systemd/system/engine.service",
                       "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n");
    for (const std::string unit : {"containerd.service", "engine.service"}) {
        for (const std::vector<std::string>& extra : {std::vector<std::string>{}, {"--kernel"}}) {
            SCOPED_TRACE(unit + (extra.empty() ? "" : " --kernel"));
            std::vector<std::string> args = {"protect", unit, "--root", root};
            args.insert(args.end(), extra.begin(), extra.end());
            bgtest::Result result = bindguard(args, {"-BINDGUARD_SHIM"});
            if (!extra.empty() && !BG_CLI_KERNEL_TWIN) continue;  // refused for want of the twin
            EXPECT_EQ(result.status, 126) << result.err;
            EXPECT_NE(result.err.find("refusing to protect"), std::string::npos) << result.err;
            EXPECT_NE(result.err.find("packet rules"), std::string::npos) << result.err;
            EXPECT_NE(result.err.find("bindguard docker authz"), std::string::npos) << result.err;
            EXPECT_EQ(result.out, "");
        }
    }
    EXPECT_FALSE(clitest::exists(root + "/etc")) << "a drop-in was written";
}

namespace {

// A root with Debian's docker.service and docker.socket, and a daemon.json of the operator's.
std::string root_with_docker(const std::string& daemon_json) {
    std::string root = bgtest::temp_dir();
    std::filesystem::create_directories(root + "/lib/systemd/system");
    for (const char* unit : {"docker.service", "docker.socket", "containerd.service"}) {
        std::string from = std::string("/lib/systemd/system/") + unit;
        EXPECT_TRUE(clitest::exists(from)) << from << " is missing: run scripts/setup (docker.io)";
        std::filesystem::copy_file(from, root + "/lib/systemd/system/" + unit);
    }
    if (!daemon_json.empty()) {
        std::filesystem::create_directories(root + "/etc/docker");
        bgtest::write_file(root + "/etc/docker/daemon.json", daemon_json);
    }
    return root;
}

}  // namespace

// `protect docker` (and docker.service, --kernel or not) writes no drop-in of the library or
// the kernel twin: it sets up the authorization plugin, keeps the operator's daemon.json keys,
// and `unprotect docker` takes back exactly what it added.
TEST(CliProtect, DockerGetsTheAuthorizationPluginInstead) {
    for (const std::vector<std::string>& args : {std::vector<std::string>{"protect", "docker"}, {"protect", "docker.service", "--kernel"}}) {
        SCOPED_TRACE(args[1]);
        std::string root = root_with_docker("{\"log-driver\": \"journald\", \"authorization-plugins\": [\"opa\"]}\n");
        std::string policy = bgtest::source_dir() + "/examples/policy/default.toml";
        std::vector<std::string> full = args;
        full.insert(full.end(), {"--root", root, "--policy", policy});
        bgtest::Result result = bindguard(full, {"-BINDGUARD_SHIM"});
        ASSERT_EQ(result.status, 0) << result.err;
        EXPECT_NE(result.out.find("Docker publishes with its own packet rules"), std::string::npos) << result.out;
        EXPECT_NE(result.out.find("systemctl restart docker.service"), std::string::npos) << result.out;
        const std::string units = root + "/etc/systemd/system";
        EXPECT_FALSE(clitest::exists(units + "/docker.service.d/bindguard.conf") &&
                     bgtest::read_file(units + "/docker.service.d/bindguard.conf").find("LD_PRELOAD") != std::string::npos);
        std::string service = bgtest::read_file(units + "/bindguard-docker-authz.service");
        EXPECT_NE(service.find("ExecStart=" + cli_real_path() + " docker authz --policy " + policy + "\n"), std::string::npos) << service;
        std::string socket = bgtest::read_file(units + "/bindguard-docker-authz.socket");
        EXPECT_NE(socket.find("ListenStream=/run/docker/plugins/bindguard.sock\n"), std::string::npos) << socket;
        std::string dropin = bgtest::read_file(units + "/docker.service.d/bindguard.conf");
        EXPECT_EQ(settings_of(dropin), (std::vector<std::string>{"[Unit]", "Requires=bindguard-docker-authz.socket",
                                                                 "After=bindguard-docker-authz.socket"}));
        EXPECT_EQ(bgtest::read_file(root + "/etc/docker/daemon.json"),
                  "{\n  \"log-driver\": \"journald\",\n  \"authorization-plugins\": [\n    \"opa\",\n    \"bindguard\"\n  ]\n}\n");
        for (const char* unit : {"bindguard-docker-authz.socket", "bindguard-docker-authz.service", "docker.service"})
            expect_verified(root, unit);
        // Again: nothing added twice.
        ASSERT_EQ(bindguard(full, {"-BINDGUARD_SHIM"}).status, 0);
        EXPECT_EQ(bgtest::read_file(root + "/etc/docker/daemon.json").find("\"bindguard\""),
                  bgtest::read_file(root + "/etc/docker/daemon.json").rfind("\"bindguard\""));
        bgtest::Result undone = bindguard({"unprotect", "docker", "--root", root});
        EXPECT_EQ(undone.status, 0) << undone.err;
        EXPECT_EQ(bgtest::read_file(root + "/etc/docker/daemon.json"),
                  "{\n  \"log-driver\": \"journald\",\n  \"authorization-plugins\": [\n    \"opa\"\n  ]\n}\n");
        EXPECT_FALSE(clitest::exists(units + "/bindguard-docker-authz.service"));
        EXPECT_FALSE(clitest::exists(units + "/bindguard-docker-authz.socket"));
        EXPECT_FALSE(clitest::exists(units + "/docker.service.d"));
        EXPECT_EQ(bindguard({"unprotect", "docker", "--root", root}).status, 1);
    }
    // --dry-run prints the four files and writes nothing.
    std::string dry = root_with_docker("");
    bgtest::Result printed = bindguard({"protect", "docker", "--root", dry, "--dry-run"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(printed.status, 0) << printed.err;
    for (const char* file : {"/etc/systemd/system/bindguard-docker-authz.socket", "/etc/systemd/system/bindguard-docker-authz.service",
                                    "/etc/systemd/system/docker.service.d/bindguard.conf", "/etc/docker/daemon.json"}) {
        EXPECT_NE(printed.out.find("# " + dry + file + "\n"), std::string::npos) << printed.out;
        EXPECT_FALSE(clitest::exists(dry + file)) << file;
    }
    // Without a daemon.json, it makes one, and unprotect removes it again.
    std::string root = root_with_docker("");
    ASSERT_EQ(bindguard({"protect", "docker", "--root", root}, {"-BINDGUARD_SHIM"}).status, 0);
    EXPECT_EQ(bgtest::read_file(root + "/etc/docker/daemon.json"), "{\n  \"authorization-plugins\": [\n    \"bindguard\"\n  ]\n}\n");
    ASSERT_EQ(bindguard({"unprotect", "docker", "--root", root}).status, 0);
    EXPECT_FALSE(clitest::exists(root + "/etc/docker/daemon.json"));
    // A daemon.json that is not JSON is left alone.
    std::string broken = root_with_docker("{\"log-driver\": ");
    bgtest::Result refused = bindguard({"protect", "docker", "--root", broken}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find(broken + "/etc/docker/daemon.json is not a JSON object"), std::string::npos) << refused.err;
    EXPECT_FALSE(clitest::exists(broken + "/etc/systemd/system/bindguard-docker-authz.service"));
}
