// `bindguard protect` and systemd socket units, on unit files under a temporary root (the
// real /etc is never written): a service whose sockets systemd binds is never reported
// protected; a socket unit is refused without --kernel and gets the kernel twin's drop-in
// with it, checked with the real `systemd-analyze verify`. (Under a real systemd:
// tests/kernel/systemd_boot_test.cpp.)
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>

#include <filesystem>

#include "cli_support.hpp"

using clitest::bindguard;

namespace {

// A temporary root with app.service (and the socket units given as name -> text) in its
// lib/systemd/system. Returns it.
std::string root_with(const std::vector<std::pair<std::string, std::string>>& units) {
    std::string root = bgtest::temp_dir();
    std::filesystem::create_directories(root + "/lib/systemd/system");
    bgtest::write_file(root + "/lib/systemd/system/app.service", "[Service]\nExecStart=/bin/sleep 1000\n");
    for (const auto& [name, text] : units) bgtest::write_file(root + "/lib/systemd/system/" + name, text);
    return root;
}

// The lines of a drop-in but its comments.
std::vector<std::string> settings_of(const std::string& text) {
    std::vector<std::string> settings;
    for (const std::string& line : clitest::lines(text))
        if (!line.starts_with("#")) settings.push_back(line);
    return settings;
}

// realpath(3) of the built command, as the --kernel drop-in names it.
std::string cli_real_path() {
    char buf[PATH_MAX];
    return ::realpath(bgtest::cli_path().c_str(), buf) ? buf : bgtest::cli_path();
}

// `systemd-analyze verify UNIT` with the units of root; expects it to pass without a word
// about the drop-in.
void expect_verified(const std::string& root, const std::string& unit) {
    std::string path = root + "/etc/systemd/system:" + root + "/lib/systemd/system:";
    bgtest::Result verified =
        bgtest::run({"sh", "-c", "cd / && exec systemd-analyze verify \"$0\"", unit}, {"SYSTEMD_UNIT_PATH=" + path});
    EXPECT_EQ(verified.status, 0) << verified.out << verified.err;
    EXPECT_EQ(verified.err.find("bindguard.conf"), std::string::npos) << verified.err;
}

const std::string kPublicSocket =
    "[Socket]\nListenStream=0.0.0.0:8080\nListenStream=[::]:8081\nListenDatagram=127.0.0.1:5353\n"
    "ListenStream=/run/app.sock\nListenSequentialPacket=@app\n";

}  // namespace

TEST(CliProtectSockets, AServiceWhoseSocketUnitListensPubliclyIsNotReportedProtected) {
    std::string root = root_with({{"app.socket", kPublicSocket}});
    bgtest::Result result = bindguard({"protect", "app", "--root", root}, {"-BINDGUARD_SHIM"});
    // The drop-in is written (it protects what the service binds itself), but exit 1.
    EXPECT_EQ(result.status, 1) << result.out << result.err;
    EXPECT_TRUE(clitest::exists(root + "/etc/systemd/system/app.service.d/bindguard.conf"));
    const std::string file = root + "/lib/systemd/system/app.socket";
    EXPECT_NE(result.err.find("bindguard protect: warning: app.socket listens publicly for app.service: "
                              "ListenStream=0.0.0.0:8080 (" + file + ":2). systemd (pid 1) binds it and hands it over, "
                              "so this drop-in cannot protect it: `bindguard protect app.socket --kernel`, or "
                              "ListenStream=127.0.0.1:8080 in the socket unit\n"),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("ListenStream=[::]:8081 (" + file + ":3): IPv4 too. "), std::string::npos) << result.err;
    // Loopback, AF_UNIX and abstract lines are fine.
    EXPECT_EQ(result.err.find("5353"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("/run/app.sock"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("@app"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("bindguard protect: app.service is NOT protected: a socket unit of it listens publicly"),
              std::string::npos)
        << result.err;
    // --dry-run says the same, and exits 1 too.
    result = bindguard({"protect", "app", "--root", root, "--dry-run"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_NE(result.out.find("[Service]\n"), std::string::npos) << result.out;
}

TEST(CliProtectSockets, FindsTheSocketUnitsBySocketsServiceAndName) {
    // Sockets= of the service, a socket unit whose Service= names it (systemd's TriggeredBy=),
    // and a bare port (which systemd binds on [::], dual-stack by default).
    std::string root = root_with({{"api-http.socket", "[Socket]\nListenStream=9001\n"},
                                  {"api-admin.socket", "[Socket]\nService=app.service\nListenStream=10.1.2.3:9002%eth0\nFreeBind=yes\n"},
                                  {"other.socket", "[Socket]\nListenStream=0.0.0.0:9003\n"}});
    bgtest::write_file(root + "/lib/systemd/system/app.service",
                       "[Service]\nSockets=api-http.socket\nExecStart=/bin/sleep 1000\n");
    bgtest::Result result = bindguard({"protect", "app", "--root", root, "--dry-run"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_NE(result.err.find("api-http.socket listens publicly for app.service: ListenStream=9001 (" + root +
                              "/lib/systemd/system/api-http.socket:2): [::]:9001, IPv4 too. "),
              std::string::npos)
        << result.err;
    // The %dev suffix does not confine the socket to the device: judged by its address.
    EXPECT_NE(result.err.find("api-admin.socket listens publicly for app.service: ListenStream=10.1.2.3:9002%eth0 (" +
                              root + "/lib/systemd/system/api-admin.socket:3): %eth0 only sets the scope of a "
                              "link-local IPv6 address, it does not confine the socket to that device, FreeBind=yes: "
                              "bound even while the address is not on this host. "),
              std::string::npos)
        << result.err;
    EXPECT_EQ(result.err.find("other.socket"), std::string::npos) << result.err;
}

TEST(CliProtectSockets, LoopbackAllowedAndKernelProtectedSocketUnitsAreFine) {
    // ipv6-only: a bare port is [::] alone, and the fix is [::1]. BindToDevice=lo confines it.
    std::string root = root_with({{"app.socket", "[Socket]\nListenStream=127.0.0.1:8080\nListenStream=[::1]:8080\n"
                                                 "ListenStream=8443\nListenStream=0.0.0.0:8444\nBindIPv6Only=ipv6-only\n"}});
    std::string policy = clitest::temp_file("policy.toml", "version = 1\n[[rule]]\nname = \"app-public\"\n"
                                                           "action = \"allow\"\nservice = \"app\"\nport = [8443]\n");
    bgtest::Result result = bindguard({"protect", "app", "--root", root, "--policy", policy, "--dry-run"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_EQ(result.err.find("8443"), std::string::npos) << result.err;  // allowed by the rule for service app
    EXPECT_NE(result.err.find("ListenStream=0.0.0.0:8444 ("), std::string::npos) << result.err;
    // Another service's rule does not allow it.
    result = bindguard({"protect", "app", "--root", root, "--policy", policy, "--service", "web", "--dry-run"},
                       {"-BINDGUARD_SHIM"});
    EXPECT_NE(result.err.find("ListenStream=8443 ("), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("ListenStream=8443 (" + root + "/lib/systemd/system/app.socket:4): [::]:8443, IPv6 only. "),
              std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find("or ListenStream=[::1]:8443 in the socket unit"), std::string::npos) << result.err;

    std::filesystem::create_directories(root + "/etc/systemd/system/app.socket.d");
    bgtest::write_file(root + "/etc/systemd/system/app.socket.d/10-lo.conf", "[Socket]\nBindToDevice=lo\n");
    result = bindguard({"protect", "app", "--root", root, "--dry-run"}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.err, "");
    std::filesystem::remove(root + "/etc/systemd/system/app.socket.d/10-lo.conf");

    // Once the socket unit itself is protected with the kernel twin, the service is too.
    ASSERT_EQ(bindguard({"protect", "app.socket", "--root", root, "--kernel"}).status, 0);
    result = bindguard({"protect", "app", "--root", root}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.err, "");
}

TEST(CliProtectSockets, ASocketUnitIsRefusedWithoutTheKernelTwin) {
    std::string root = root_with({{"app.socket", kPublicSocket}});
    bgtest::Result result = bindguard({"protect", "app.socket", "--root", root}, {"-BINDGUARD_SHIM"});
    EXPECT_EQ(result.status, 126) << result.out << result.err;
    const std::string file = root + "/lib/systemd/system/app.socket";
    EXPECT_EQ(result.err,
              "bindguard protect: refusing to protect app.socket with the library: systemd (pid 1) binds its listen "
              "lines itself and hands the sockets to app.service, and pid 1 cannot be preloaded.\n"
              "bindguard protect: public: ListenStream=0.0.0.0:8080 (" + file + ":2)\n"
              "bindguard protect: public: ListenStream=[::]:8081 (" + file + ":3): IPv4 too\n"
              "bindguard protect: either `bindguard protect app.socket --kernel` (the kernel twin in the socket unit's "
              "cgroup, where systemd binds them), or listen on loopback in the unit: ListenStream=127.0.0.1:8080, "
              "ListenStream=127.0.0.1:8081\n");
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/app.socket.d"));
    // Neither the library nor a port list has a meaning for a socket unit.
    result = bindguard({"protect", "app.socket", "--root", root, "--kernel", "--with-preload"});
    EXPECT_EQ(result.status, 2) << result.err;
    EXPECT_NE(result.err.find("--with-preload: not for a socket unit"), std::string::npos) << result.err;
    result = bindguard({"protect", "app.socket", "--root", root, "--kernel", "--backstop"});
    EXPECT_EQ(result.status, 2) << result.err;
}

TEST(CliProtectSockets, TheKernelTwinAttachesBeforeSystemdBindsAndChecksAfter) {
    std::string root = root_with({{"app.socket", kPublicSocket + "ExecStartPre=/bin/true\nExecStartPre=-\n"}});
    std::string policy = bgtest::source_dir() + "/examples/policy/default.toml";
    bgtest::Result result = bindguard({"protect", "app.socket", "--root", root, "--kernel", "--policy", policy});
    ASSERT_EQ(result.status, 0) << result.err;
    const std::string dropin = root + "/etc/systemd/system/app.socket.d/bindguard.conf";
    EXPECT_NE(result.out.find("wrote " + dropin + " (app.socket, for app.service, service app)\n"), std::string::npos)
        << result.out;
    EXPECT_NE(result.out.find("Next: systemctl daemon-reload && systemctl stop app.service app.socket && systemctl "
                              "start app.socket"),
              std::string::npos)
        << result.out;
    // The unit's own ExecStartPre= runs before the drop-in's attach: said.
    EXPECT_NE(result.err.find("bindguard protect: warning: app.socket has its own ExecStartPre=/bin/true ("), std::string::npos)
        << result.err;
    const std::string self = cli_real_path();
    EXPECT_EQ(settings_of(bgtest::read_file(dropin)),
              (std::vector<std::string>{"[Socket]",
                                        "ExecStartPre=+" + self + " kernel attach --service app --policy " + policy,
                                        "ExecStartPost=+" + self + " kernel check-socket --service app --policy " +
                                            policy + " %n",
                                        "ExecStopPost=+" + self + " kernel detach"}));
    expect_verified(root, "app.socket");

    result = bindguard({"unprotect", "app.socket", "--root", root});
    ASSERT_EQ(result.status, 0) << result.err;
    EXPECT_NE(result.out.find("removed " + dropin + "\nNext: systemctl daemon-reload && systemctl restart app.socket (and "
                              "the service it activates, which keeps the sockets it was given until it stops)\n"),
              std::string::npos)
        << result.out;
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/app.socket.d"));
    expect_verified(root, "app.socket");
}

TEST(CliProtectSockets, APublicSctpLineIsNotClaimedForTheKernelTwin) {
    // SCTP: the kernel twin's hooks are not known to see its binds. On loopback it is fine.
    std::string root = root_with({{"app.socket", "[Socket]\nListenSequentialPacket=0.0.0.0:3868\nSocketProtocol=sctp\n"}});
    bgtest::Result result = bindguard({"protect", "app.socket", "--root", root, "--kernel"});
    EXPECT_EQ(result.status, 126) << result.err;
    EXPECT_NE(result.err.find("refusing to protect app.socket with --kernel: ListenSequentialPacket=0.0.0.0:3868 (" + root +
                              "/lib/systemd/system/app.socket:2) is SCTP"),
              std::string::npos)
        << result.err;
    EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/app.socket.d"));
    root = root_with({{"app.socket", "[Socket]\nListenSequentialPacket=127.0.0.1:3868\nSocketProtocol=sctp\n"}});
    EXPECT_EQ(bindguard({"protect", "app.socket", "--root", root, "--kernel"}).status, 0);
}

TEST(CliProtectSockets, AListenLineSystemdWouldRefuseIsAnErrorNamingItsLine) {
    for (const char* bad : {"0.0.0.0:0", "1.2.3:80", "70000", "[::1]:80#name", "0.0.0.0:80%"}) {
        std::string root = root_with({{"app.socket", std::string("[Socket]\nListenStream=127.0.0.1:1\nListenStream=") + bad + "\n"}});
        bgtest::Result result = bindguard({"protect", "app.socket", "--root", root, "--kernel"});
        EXPECT_EQ(result.status, 1) << bad << ": " << result.err;
        EXPECT_TRUE(result.err.starts_with("bindguard protect: " + root + "/lib/systemd/system/app.socket:3: ListenStream=" +
                                           bad + ": "))
            << result.err;
        EXPECT_FALSE(clitest::exists(root + "/etc/systemd/system/app.socket.d"));
        // protect of the service does not claim protection for a socket unit it cannot read.
        result = bindguard({"protect", "app", "--root", root, "--dry-run"}, {"-BINDGUARD_SHIM"});
        EXPECT_EQ(result.status, 1) << bad << ": " << result.err;
        EXPECT_NE(result.err.find("app.socket hands its sockets to app.service but cannot be read: "), std::string::npos)
            << result.err;
    }
}
