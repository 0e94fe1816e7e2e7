// The drop-in of `bindguard protect` (cli/lib/protect_dropin.cpp) and the --backstop ports of
// a policy, built from real policies parsed by the policy library.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "bindguard/policy.hpp"
#include "protect_dropin.hpp"
#include "status.hpp"

namespace bindguard::cli {
namespace {

Policy parsed(const std::string& text) {
    LoadResult loaded = parse_policy(text, "test.toml", Warnings::skip);
    EXPECT_TRUE(loaded.ok()) << text;
    return loaded.ok() ? *loaded.policy : Policy{};
}

// The exit status backstop_ports() stopped with, -1 when it returned.
int backstop_status(const Policy& policy, const std::string& service, const std::string& program) {
    try {
        backstop_ports(policy, service, program);
    } catch (const Stop& stop) {
        return stop.status;
    }
    return -1;
}

// Whether text contains part; says what text is when it does not.
testing::AssertionResult has(const std::string& text, const std::string& part) {
    if (text.find(part) != std::string::npos) return testing::AssertionSuccess() << "\"" << part << "\" in:\n" << text;
    return testing::AssertionFailure() << "no \"" << part << "\" in:\n" << text;
}

ServiceUnit nginx_unit() {
    ServiceUnit unit;
    unit.name = "nginx.service";
    unit.program = "/usr/sbin/nginx";
    unit.command = "/usr/sbin/nginx -g daemon on; master_process on;";
    return unit;
}

TEST(Backstop, AnyProtocolGivesTcpAndUdpForEachPortOfTheService) {
    Policy policy = parsed("version = 1\n[[rule]]\nname = \"api\"\naction = \"rewrite\"\nservice = \"api\"\n"
                           "port = [4000, \"8000-8099\"]\n");
    EXPECT_EQ(backstop_ports(policy, "api", "/nonexistent/node"),
              (std::vector<std::string>{"tcp:4000", "udp:4000", "tcp:8000-8099", "udp:8000-8099"}));
}

TEST(Backstop, ARuleOfOneProtocolGivesOnlyThatOne) {
    Policy policy = parsed("version = 1\n[[rule]]\nname = \"web\"\naction = \"allow\"\nservice = \"proxy\"\n"
                           "port = [80, 443]\nprotocol = \"tcp\"\n");
    EXPECT_EQ(backstop_ports(policy, "proxy", "/nonexistent/nginx"), (std::vector<std::string>{"tcp:80", "tcp:443"}));
}

TEST(Backstop, DenyRulesAndOtherServicesAreLeftOutAndEachEntryComesOnce) {
    Policy policy = parsed(
        "version = 1\n"
        "[[rule]]\nname = \"no-web\"\naction = \"deny\"\nservice = \"api\"\nport = [80]\n"
        "[[rule]]\nname = \"other\"\naction = \"allow\"\nservice = \"db\"\nport = [5432]\n"
        "[[rule]]\nname = \"api\"\naction = \"rewrite\"\nservice = \"api\"\nport = [4000]\nprotocol = \"tcp\"\n"
        "[[rule]]\nname = \"api-again\"\naction = \"allow\"\nservice = \"api\"\nport = [4000]\nprotocol = \"any\"\n");
    EXPECT_EQ(backstop_ports(policy, "api", "/nonexistent/node"), (std::vector<std::string>{"tcp:4000", "udp:4000"}));
}

TEST(Backstop, ARuleForTheUnitsProgramCountsAsWell) {
    Policy policy = parsed("version = 1\n[[rule]]\nname = \"sh\"\naction = \"allow\"\nprogram = \"/nonexistent/*\"\n"
                           "port = [9000]\nprotocol = \"udp\"\n");
    EXPECT_EQ(backstop_ports(policy, "whatever", "/nonexistent/server"), (std::vector<std::string>{"udp:9000"}));
}

TEST(Backstop, ARuleThatGivesEveryPortStopsWithOne) {
    Policy policy = parsed("version = 1\n[[rule]]\nname = \"all\"\naction = \"allow\"\nservice = \"api\"\n");
    testing::internal::CaptureStderr();
    EXPECT_EQ(backstop_status(policy, "api", "/nonexistent/node"), kExitFailure);
    std::string said = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(has(said, "bindguard protect: --backstop: rule \"all\""));
    EXPECT_TRUE(has(said, "every port"));
}

TEST(Backstop, NoPortForTheServiceStopsWithOneAndSuggestsARule) {
    testing::internal::CaptureStderr();
    EXPECT_EQ(backstop_status(builtin_policy(), "api", "/nonexistent/node"), kExitFailure);
    std::string said = testing::internal::GetCapturedStderr();
    EXPECT_TRUE(has(said, "names no port for service api"));
    EXPECT_TRUE(has(said, "service = \"api\""));
}

TEST(SocketBindEntry, OnePortOrARange) {
    EXPECT_EQ(socket_bind_entry("tcp", PortRange{80, 80}), "tcp:80");
    EXPECT_EQ(socket_bind_entry("udp", PortRange{8000, 8099}), "udp:8000-8099");
}

TEST(DropIn, TheLibraryAloneSetsTheEnvironmentQuoted) {
    ServiceUnit unit = nginx_unit();
    unit.ld_preload = "/usr/lib/libjemalloc.so.2 /opt/old/libbindguard.so";
    std::string text = dropin_text({}, unit, "/usr/lib/bindguard/libbindguard.so", "/etc/bindguard/100%.toml",
                                   "proxy web", {});
    EXPECT_TRUE(text.starts_with(std::string(kProtectMarker) + " nginx.service` (bindguard ")) << text;
    EXPECT_TRUE(has(text, "\n[Service]\n"));
    EXPECT_TRUE(has(text, "Environment=\"LD_PRELOAD=/usr/lib/bindguard/libbindguard.so:/usr/lib/libjemalloc.so.2\"\n"));
    EXPECT_TRUE(has(text, "Environment=\"BINDGUARD_POLICY=/etc/bindguard/100%%.toml\"\n"));
    EXPECT_TRUE(has(text, "Environment=\"BINDGUARD_SERVICE=proxy web\"\n"));
    EXPECT_FALSE(has(text, "ExecCondition="));
    EXPECT_FALSE(has(text, "SocketBind"));
    EXPECT_FALSE(has(text, "ExecPaths="));
}

TEST(DropIn, NoPolicyPathLeavesBindguardPolicyUnset) {
    std::string text = dropin_text({}, nginx_unit(), "/usr/lib/bindguard/libbindguard.so", "", "proxy", {});
    EXPECT_FALSE(has(text, "BINDGUARD_POLICY"));
    EXPECT_TRUE(has(text, "Environment=\"BINDGUARD_SERVICE=proxy\"\n"));
}

TEST(DropIn, NoExecPathsKeepsTheLibrarysDirectoryMappable) {
    ServiceUnit unit = nginx_unit();
    unit.no_exec_paths = true;
    std::string text = dropin_text({}, unit, "/usr/lib/bindguard/libbindguard.so", "", "proxy", {});
    EXPECT_TRUE(has(text, "\nExecPaths=/usr/lib/bindguard\n"));
}

TEST(DropIn, BackstopPinsTheEntriesThenDeniesTheRest) {
    DropInChoice choice;
    choice.backstop = true;
    std::string text =
        dropin_text(choice, nginx_unit(), "/usr/lib/bindguard/libbindguard.so", "", "proxy", {"tcp:80", "tcp:443"});
    EXPECT_TRUE(has(text, "SocketBindAllow=tcp:80\nSocketBindAllow=tcp:443\nSocketBindDeny=any\n"));
}

TEST(DropIn, TheKernelTwinAloneAttachesAndDetachesWithQuotedValues) {
    DropInChoice choice;
    choice.kernel = true;
    choice.self = "/opt/bind guard/bin/bindguard";
    std::string text = dropin_text(choice, nginx_unit(), "", "/etc/bindguard/policy.toml", "proxy $web", {});
    EXPECT_TRUE(has(text, "\nExecCondition=+\"/opt/bind guard/bin/bindguard\" kernel attach --exec-condition "
                        "--service \"proxy $$web\" --program /usr/sbin/nginx --command "
                        "\"/usr/sbin/nginx -g daemon on; master_process on;\" --policy /etc/bindguard/policy.toml\n"));
    EXPECT_TRUE(has(text, "\nExecStopPost=+\"/opt/bind guard/bin/bindguard\" kernel detach\n"));
    EXPECT_FALSE(has(text, "Environment="));
    EXPECT_TRUE(has(text, "# The kernel twin keeps this service's binds"));
}

TEST(DropIn, KernelWithPreloadHasBoth) {
    DropInChoice choice;
    choice.kernel = true;
    choice.with_preload = true;
    choice.self = "/usr/bin/bindguard";
    std::string text = dropin_text(choice, nginx_unit(), "/usr/lib/bindguard/libbindguard.so", "", "proxy", {});
    EXPECT_TRUE(has(text, "ExecCondition=+/usr/bin/bindguard kernel attach"));
    EXPECT_FALSE(has(text, "--policy"));
    EXPECT_TRUE(has(text, "Environment=\"LD_PRELOAD=/usr/lib/bindguard/libbindguard.so\"\n"));
    EXPECT_TRUE(has(text, "# The bindguard library and the kernel twin keep"));
}

TEST(ComposedPreload, TheLibraryFirstThenTheOthersButOtherCopiesOfIt) {
    const std::string shim = "/usr/lib/bindguard/libbindguard.so";
    EXPECT_EQ(composed_preload(shim, std::nullopt), shim);
    EXPECT_EQ(composed_preload(shim, ""), shim);
    EXPECT_EQ(composed_preload(shim, "/a/liba.so:/b/libb.so /c/libc.so"), shim + ":/a/liba.so:/b/libb.so:/c/libc.so");
    EXPECT_EQ(composed_preload(shim, "libbindguard.so::/old/libbindguard.so: /a/liba.so "), shim + ":/a/liba.so");
}

TEST(OwnPath, IsTheRunningExecutableResolved) {
    EXPECT_EQ(own_path(), std::filesystem::canonical("/proc/self/exe").string());
    EXPECT_TRUE(own_path().ends_with("/bindguard_cli_unit_tests"));
}

TEST(PreloadEntries, ColonsAndSpacesSeparateEmptyEntriesAreDropped) {
    EXPECT_EQ(preload_entries(" a.so::b.so  c.so:"), (std::vector<std::string>{"a.so", "b.so", "c.so"}));
    EXPECT_TRUE(preload_entries("").empty());
}

}  // namespace
}  // namespace bindguard::cli
