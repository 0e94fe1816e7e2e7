// Cases 1-15 and 20 of docs/binding-cases.md, each with real binds under the
// real library (bg-bindtest), compared with the same program without it where
// the row says the library must be invisible.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "bindguard/compile.hpp"
#include "shim_test_util.hpp"

namespace {

using namespace shimtest;

// Every test of this program runs in a private network namespace (shim_test_util.hpp).
[[maybe_unused]] ::testing::Environment* const kPrivateNetns = ::testing::AddGlobalTestEnvironment(new PrivateNetns);

const std::string kEacces = std::to_string(EACCES);

std::string port_of(const std::string& local) { return local.substr(local.rfind(':') + 1); }

// Binds with the default policy and returns the result fields.
Fields bind_default(const std::vector<std::string>& args, bgtest::Result* out = nullptr) {
    auto result = helper(args, default_policy());
    EXPECT_EQ(result.status, 0) << result.err;
    if (out != nullptr) *out = result;
    return result_of(result);
}

// A real IPv4 TCP client connecting to 127.0.0.1:port; true when it connects.
bool connect_ipv4_loopback(std::uint16_t port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return ok;
}

TEST(Row01, WildcardTcpIsRewrittenToLoopbackSamePort) {
    const auto port = std::to_string(bgtest::free_port());
    bgtest::Result result;
    auto f = bind_default({"bind", "tcp", "0.0.0.0:" + port}, &result);
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["errno"], "0");
    EXPECT_EQ(f["local"], "127.0.0.1:" + port);
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("rewrite tcp 0.0.0.0:" + port + " -> 127.0.0.1:" + port + " rule=default"),
              std::string::npos)
        << logs[0];
}

TEST(Row02, RealNonLoopbackAddressIsRewrittenInANetworkNamespace) {
    const std::string veth =
        "ip link add bgv0 type veth peer name bgv1 && ip addr add 10.253.0.1/24 dev bgv0 && "
        "ip link set bgv0 up && ip link set bgv1 up && ";
    // Without the library the address really is bindable there, so the test can fail.
    auto plain = in_netns(veth + "\"$HELPER\" bind tcp 10.253.0.1:0");
    ASSERT_EQ(plain.status, 0) << plain.err;
    EXPECT_EQ(port_of(result_of(plain)["local"]).empty(), false);
    EXPECT_EQ(result_of(plain)["local"].rfind("10.253.0.1:", 0), 0u) << plain.out;

    auto guarded = in_netns(veth + "env $SHIM_ENV \"$HELPER\" bind tcp 10.253.0.1:4321 listen");
    ASSERT_EQ(guarded.status, 0) << guarded.err;
    auto f = result_of(guarded);
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["local"], "127.0.0.1:4321") << guarded.out;
    EXPECT_EQ(f["listening"], "1");
    EXPECT_NE(guarded.err.find("rewrite tcp 10.253.0.1:4321 -> 127.0.0.1:4321"), std::string::npos)
        << guarded.err;
}

TEST(Row02, RealIpv6AndUdpAddressesAreRewrittenToo) {
    const std::string veth =
        "ip link add bgv0 type veth peer name bgv1 && ip addr add 10.253.0.1/24 dev bgv0 && "
        "ip addr add fd00:253::1/64 dev bgv0 nodad && ip link set bgv0 up && ip link set bgv1 up && ";
    auto plain = in_netns(veth + "\"$HELPER\" bind tcp [fd00:253::1]:0");
    EXPECT_EQ(result_of(plain)["local"].rfind("[fd00:253::1]:", 0), 0u) << plain.out << plain.err;
    auto v6 = in_netns(veth + "env $SHIM_ENV \"$HELPER\" bind tcp [fd00:253::1]:4322 v6only=0");
    EXPECT_EQ(result_of(v6)["local"], "[::1]:4322") << v6.out << v6.err;
    auto udp = in_netns(veth + "env $SHIM_ENV \"$HELPER\" bind udp 10.253.0.1:4323");
    EXPECT_EQ(result_of(udp)["local"], "127.0.0.1:4323") << udp.out << udp.err;
}

TEST(Row03, DualStackWildcardGoesToV4MappedLoopbackAndIpv4ClientsReachIt) {
    const auto port = bgtest::free_port();
    auto server = bgtest::Process::start(
        {bgtest::helper_path(), "bind", "tcp", "[::]:" + std::to_string(port), "v6only=0", "listen", "hold"},
        shim_env(default_policy()));
    auto socket = bgtest::wait_for_listener(port);
    ASSERT_TRUE(socket.has_value()) << server.err_so_far();
    EXPECT_EQ(socket->local, "[::ffff:127.0.0.1]:" + std::to_string(port));
    for (const auto& other : bgtest::sockets())
        EXPECT_FALSE(other.port == port && other.local.rfind("[::]", 0) == 0) << other.local;
    EXPECT_TRUE(connect_ipv4_loopback(port));
    auto result = server.stop();
    EXPECT_NE(result.err.find("rewrite tcp [::]:" + std::to_string(port) + " -> [::ffff:127.0.0.1]:"),
              std::string::npos)
        << result.err;
}

TEST(Row04, V6OnlyWildcardGoesToIpv6Loopback) {
    const auto port = std::to_string(bgtest::free_port());
    auto f = bind_default({"bind", "tcp", "[::]:" + port, "v6only=1"});
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["local"], "[::1]:" + port);
}

TEST(Row05, V4MappedNonLoopbackIsRewrittenToV4MappedLoopback) {
    for (const std::string address : {"[::ffff:0.0.0.0]", "[::ffff:10.1.2.3]", "[::ffff:192.0.2.7]"}) {
        const auto port = std::to_string(bgtest::free_port());
        auto f = bind_default({"bind", "tcp", address + ":" + port, "v6only=0"});
        EXPECT_EQ(f["ret"], "0") << address;
        EXPECT_EQ(f["local"], "[::ffff:127.0.0.1]:" + port) << address;
    }
}

TEST(Row06, LoopbackBindsAreUnchangedAndNotLogged) {
    for (const std::string address : {"127.0.0.1", "127.8.9.10", "[::1]", "[::ffff:127.0.0.1]"}) {
        const auto port = std::to_string(bgtest::free_port());
        bgtest::Result result;
        auto f = bind_default({"bind", "tcp", address + ":" + port}, &result);
        EXPECT_EQ(f["ret"], "0") << address;
        EXPECT_EQ(f["local"], address + ":" + port);
        EXPECT_TRUE(log_lines(result.err).empty()) << result.err;
    }
}

// The shortcut for loopback binds must not skip a rule that matches loopback, nor a
// protocol filter, nor the debug level's allow lines.
TEST(Row06, RulesOnLoopbackStillApply) {
    const auto policy = write_policy(R"(version = 1
[log]
level = "debug"
[[rule]]
name = "no-loopback-udp"
action = "deny"
address = "127.0.0.0/8"
protocol = "udp"
)");
    const auto port = std::to_string(bgtest::free_port());
    auto udp = helper({"bind", "udp", "127.0.0.1:" + port}, policy);
    EXPECT_EQ(result_of(udp)["ret"], "-1") << udp.out;
    EXPECT_EQ(result_of(udp)["errno"], std::to_string(EACCES)) << udp.out;
    auto tcp = helper({"bind", "tcp", "127.0.0.1:" + port}, policy);
    EXPECT_EQ(result_of(tcp)["ret"], "0") << tcp.out;
    EXPECT_NE(tcp.err.find("allow tcp 127.0.0.1:" + port + " rule=loopback"), std::string::npos) << tcp.err;
}

TEST(Row07, UdpEphemeralWildcardIsUnchanged) {
    for (const std::string address : {"0.0.0.0:0", "[::]:0"}) {
        bgtest::Result result;
        auto f = bind_default({"bind", "udp", address}, &result);
        EXPECT_EQ(f["ret"], "0");
        const std::string host = address.substr(0, address.rfind(':'));
        EXPECT_EQ(f["local"].rfind(host + ":", 0), 0u) << f["local"];
        EXPECT_NE(port_of(f["local"]), "0");
        EXPECT_TRUE(log_lines(result.err).empty()) << result.err;
    }
}

TEST(Row08, UdpServerPortIsRewritten) {
    const auto port = std::to_string(bgtest::free_port());
    bgtest::Result result;
    auto f = bind_default({"bind", "udp", "0.0.0.0:" + port}, &result);
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["local"], "127.0.0.1:" + port);
    EXPECT_NE(result.err.find("rewrite udp 0.0.0.0:" + port + " -> 127.0.0.1:" + port), std::string::npos);
}

TEST(Row09, TcpEphemeralWildcardIsRewritten) {
    auto f = bind_default({"bind", "tcp", "0.0.0.0:0", "listen"});
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["listening"], "1");
    EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << f["local"];
    EXPECT_NE(port_of(f["local"]), "0");
}

TEST(Row10, ListenOnNeverBoundSocketBindsLoopbackFirst) {
    bgtest::Result result;
    auto f = bind_default({"listen-unbound", "tcp"}, &result);
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["listening"], "1");
    EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << f["local"];
    EXPECT_NE(result.err.find("rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("call=listen"), std::string::npos) << result.err;

    auto f6 = bind_default({"listen-unbound", "tcp6", "v6only=0"});
    EXPECT_EQ(f6["listening"], "1");
    EXPECT_EQ(f6["local"].rfind("[::ffff:127.0.0.1]:", 0), 0u) << f6["local"];
}

TEST(Row10, ListenFailsWithTheErrorOfTheLoopbackBindAndDoesNotListen) {
    // Without IPv6 in the namespace, ::1 cannot be bound: EADDRNOTAVAIL.
    const std::string no_ipv6 =
        "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && ";
    auto plain = in_netns(no_ipv6 + "\"$HELPER\" listen-unbound tcp6 v6only=1");
    EXPECT_EQ(result_of(plain)["listening"], "1") << plain.out << plain.err;  // the kernel would listen on [::]
    auto guarded = in_netns(no_ipv6 + "env $SHIM_ENV \"$HELPER\" listen-unbound tcp6 v6only=1");
    auto f = result_of(guarded);
    EXPECT_EQ(f["ret"], "-1") << guarded.out << guarded.err;
    EXPECT_EQ(f["errno"], std::to_string(EADDRNOTAVAIL));
    EXPECT_EQ(f["listening"], "0");
    EXPECT_NE(guarded.err.find("error=EADDRNOTAVAIL"), std::string::npos) << guarded.err;
}

TEST(Row11, ListenOnSocketBoundBehindOurBackIsRefused) {
    // raw-bind binds with the system call instruction, which no preload can see.
    auto plain = in_netns("\"$HELPER\" raw-bind 0.0.0.0:0");
    EXPECT_EQ(result_of(plain)["listening"], "1") << plain.out << plain.err;
    auto guarded = in_netns("env $SHIM_ENV \"$HELPER\" raw-bind 0.0.0.0:0");
    auto f = result_of(guarded);
    EXPECT_EQ(f["ret"], "-1") << guarded.out << guarded.err;
    EXPECT_EQ(f["errno"], kEacces);
    EXPECT_EQ(f["listening"], "0");
    EXPECT_NE(guarded.err.find("deny tcp 0.0.0.0:"), std::string::npos) << guarded.err;
    EXPECT_NE(guarded.err.find("call=listen"), std::string::npos) << guarded.err;
}

TEST(Row11, AnAllowRuleLetsItListen) {
    const auto policy = write_policy(
        "version = 1\n"
        "[[rule]]\nname = \"public-ok\"\naction = \"allow\"\naddress = \"0.0.0.0/32\"\n");
    auto guarded = in_netns("env $SHIM_ENV \"$HELPER\" raw-bind 0.0.0.0:0", policy);
    auto f = result_of(guarded);
    EXPECT_EQ(f["ret"], "0") << guarded.out << guarded.err;
    EXPECT_EQ(f["listening"], "1");
}

TEST(Row12, NodeFallbackToIpv4IsDeniedToo) {
    const auto policy = write_policy("version = 1\n[default]\naction = \"deny\"\n");
    const auto port = std::to_string(bgtest::free_port());
    auto result = bgtest::run(
        {"/usr/bin/node", "-e",
         "const s = require('http').createServer(() => {});"
         "s.on('error', e => { console.log('error', e.code, e.address); process.exit(0); });"
         "s.listen(" + port + ", () => { console.log('listening', JSON.stringify(s.address())); process.exit(0); });"},
        shim_env(policy));
    EXPECT_EQ(result.status, 0) << result.err;
    // Node tries '::' first, gets EACCES, falls back to 0.0.0.0, which is denied too.
    EXPECT_EQ(result.out, "error EACCES 0.0.0.0\n") << result.err;
    EXPECT_NE(result.err.find("deny tcp [::]:" + port + " -> EACCES"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("deny tcp 0.0.0.0:" + port + " -> EACCES"), std::string::npos) << result.err;
}

TEST(Row13, OtherFamiliesPassThroughIdentically) {
    const std::string path = bgtest::temp_dir() + "/unix.sock";
    for (const auto& args : std::vector<std::vector<std::string>>{{"unix", path}, {"netlink"}, {"packet"}}) {
        auto plain = helper_plain(args);
        auto guarded = helper(args, default_policy());
        EXPECT_EQ(plain.status, 0) << plain.err;
        EXPECT_EQ(result_of(plain)["ret"], "0") << args[0] << plain.out;
        EXPECT_EQ(guarded.out, plain.out) << args[0];
        EXPECT_TRUE(log_lines(guarded.err).empty()) << guarded.err;
    }
}

// Not in the list: a pointer to unreadable memory. The library reads the address
// directly, as any libc function reads its arguments, so that faults in the caller
// instead of returning EFAULT (asking the kernel to read it would cost a system call
// on every bind; see shim/sockaddr.hpp).
TEST(Row14, BadArgumentsGetExactlyTheKernelsAnswer) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"bind-null"},
                                                                  {"bind-short", "inet", "15"},
                                                                  {"bind-short", "inet", "1"},
                                                                  {"bind-short", "inet6", "23"},
                                                                  {"bind-short", "inet6", "8"},
                                                                  {"bind-badfd"},
                                                                  {"bind-long", "129"},
                                                                  {"bind-long", "4096"},
                                                                  {"bind-notsock"},
                                                                  {"bind-family", "12345"},
                                                                  {"bind-family", "10"},
                                                                  {"bind-mismatch"}}) {
        auto plain = helper_plain(args);
        auto guarded = helper(args, default_policy());
        EXPECT_EQ(result_of(plain)["ret"], "-1") << args[0] << plain.out;
        EXPECT_EQ(guarded.out, plain.out) << args[0];
        EXPECT_TRUE(log_lines(guarded.err).empty()) << guarded.err;
    }
}

TEST(Row14, LengthsTheKernelAcceptsAreStillEnforced) {
    // 24 bytes (no sin6_scope_id) is accepted by the kernel, so it must be enforced.
    auto f = bind_default({"bind-short", "inet6", "24"});
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["local"].rfind("[::ffff:127.0.0.1]:", 0), 0u) << f["local"];
    // So is a sockaddr_in inside a buffer of sizeof(sockaddr_storage) bytes.
    auto g = bind_default({"bind-long", "128"});
    EXPECT_EQ(g["ret"], "0");
    EXPECT_EQ(g["local"].rfind("127.0.0.1:", 0), 0u) << g["local"];
}

TEST(Row14, AfUnspecWildcardOnAnInetSocketIsNotAWayAround) {
    // The kernel binds AF_UNSPEC + INADDR_ANY on an AF_INET socket as 0.0.0.0.
    auto plain = in_netns("\"$HELPER\" bind-family 0");
    EXPECT_EQ(result_of(plain)["local"].rfind("0.0.0.0:", 0), 0u) << plain.out;
    auto f = bind_default({"bind-family", "0"});
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << f["local"];
}

TEST(Row15, ErrnoIsUntouchedBySuccessfulCalls) {
    for (const std::string address : {"0.0.0.0:0", "127.0.0.1:0", "[::]:0", "[::1]:0"}) {
        auto f = bind_default({"errno-check", address});
        EXPECT_EQ(f["ret"], "0") << address;
        EXPECT_EQ(f["errno"], "1234") << address;
        EXPECT_EQ(f["listen_ret"], "0") << address;
        EXPECT_EQ(f["listen_errno"], "4321") << address;
        EXPECT_EQ(f["unbound_ret"], "0") << address;
        EXPECT_EQ(f["unbound_errno"], "5678") << address;
    }
}

// Row 20: each broken policy fails closed with one error line naming the file and what
// is wrong. The library parses no TOML: an invalid policy has no compiled image (compile
// names its LINE:COL), so the library says that it is not compiled; a stale, corrupt or
// truncated image is refused the same way.
struct BrokenPolicy {
    std::string name;
    std::string path;        // the file to name in BINDGUARD_POLICY
    std::string location;    // the expected "FILE:1:1" of the error line
    std::string says;        // a part of its message
};

std::vector<BrokenPolicy> broken_policies() {
    std::vector<BrokenPolicy> out;
    const std::string dir = bgtest::temp_dir();
    out.push_back({"missing", dir + "/no-such-policy.toml", dir + "/no-such-policy.toml:1:1", "cannot read policy"});
    out.push_back({"directory", dir, dir + ":1:1", "not compiled"});
    bgtest::write_file(dir + "/invalid.toml", "version = 1\n[default]\naction = \n");
    bindguard::image::compile_file(dir + "/invalid.toml");  // fails: no image
    out.push_back({"invalid-toml", dir + "/invalid.toml", dir + "/invalid.toml:1:1", "not compiled"});
    bgtest::write_file(dir + "/unknown.toml", "version = 1\n[default]\naction = \"rewrite\"\nactoin = \"allow\"\n");
    out.push_back({"unknown-key", dir + "/unknown.toml", dir + "/unknown.toml:1:1", "not compiled"});
    const std::string allow_all = "version = 1\n[default]\naction = \"allow\"\n";
    bgtest::write_file(dir + "/stale.toml", allow_all);
    bindguard::image::compile_file(dir + "/stale.toml");
    bgtest::write_file(dir + "/stale.toml", allow_all + "# edited after compiling\n");
    out.push_back({"stale", dir + "/stale.toml", dir + "/stale.toml:1:1", "is stale"});
    bgtest::write_file(dir + "/corrupt.toml", allow_all);
    bindguard::image::compile_file(dir + "/corrupt.toml");
    {
        std::string bytes = bgtest::read_file(dir + "/corrupt.toml.compiled");
        bytes[bytes.size() - 9] ^= 0x40;
        // Over the image in place: its identity (the source's) is kept, only a byte differs.
        bgtest::write_file(dir + "/corrupt.toml.compiled", bytes);
    }
    out.push_back({"corrupt", dir + "/corrupt.toml", dir + "/corrupt.toml:1:1", "is corrupt"});
    bgtest::write_file(dir + "/truncated.toml", allow_all);
    bindguard::image::compile_file(dir + "/truncated.toml");
    {
        std::string bytes = bgtest::read_file(dir + "/truncated.toml.compiled");
        bgtest::write_file(dir + "/truncated.toml.compiled", bytes.substr(0, bytes.size() / 2));
    }
    out.push_back({"truncated", dir + "/truncated.toml", dir + "/truncated.toml:1:1", "is truncated"});
    return out;
}

TEST(Row20, BrokenPolicyFailsClosed) {
    for (const auto& broken : broken_policies()) {
        SCOPED_TRACE(broken.name);
        auto result_public = helper({"bind", "tcp", "0.0.0.0:0"}, broken.path);
        auto f = result_of(result_public);
        EXPECT_EQ(f["ret"], "-1") << result_public.out;
        EXPECT_EQ(f["errno"], kEacces);
        EXPECT_EQ(f["local"], "0.0.0.0:0");  // nothing was bound

        int error_lines = 0;
        for (const auto& line : log_lines(result_public.err))
            if (line.find(": error: ") != std::string::npos) {
                ++error_lines;
                EXPECT_TRUE(std::regex_search(line, std::regex("^bindguard\\[[0-9]+\\]: "))) << line;
                EXPECT_NE(line.find("]: " + broken.location + ": error: "), std::string::npos) << line;
                EXPECT_NE(line.find(broken.says), std::string::npos) << line;
            }
        EXPECT_EQ(error_lines, 1) << result_public.err;
        EXPECT_NE(result_public.err.find("deny tcp 0.0.0.0:0 -> EACCES"), std::string::npos) << result_public.err;

        auto loopback = result_of(helper({"bind", "tcp", "127.0.0.1:0"}, broken.path));
        EXPECT_EQ(loopback["ret"], "0");
        EXPECT_EQ(loopback["local"].rfind("127.0.0.1:", 0), 0u);

        auto unbound = result_of(helper({"listen-unbound", "tcp"}, broken.path));
        EXPECT_EQ(unbound["ret"], "-1");
        EXPECT_EQ(unbound["errno"], kEacces);
        EXPECT_EQ(unbound["listening"], "0");
    }
}

TEST(Row20, UnreadablePolicyFailsClosed) {
    // As root every file is readable, so the helper runs as nobody (setpriv).
    const std::string dir = bgtest::temp_dir();
    std::filesystem::permissions(dir, std::filesystem::perms::all & ~std::filesystem::perms::others_write &
                                          ~std::filesystem::perms::group_write);
    const std::string path = dir + "/policy.toml";
    bgtest::write_file(path, "version = 1\n");
    std::filesystem::permissions(path, std::filesystem::perms::none);
    auto result = bgtest::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bgtest::helper_path(),
                               "bind", "tcp", "0.0.0.0:0"},
                              shim_env(path));
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
    EXPECT_NE(result.err.find("]: " + path + ":1:1: error: "), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("Permission denied"), std::string::npos) << result.err;
}

TEST(Policy, UnsetPolicyUsesTheBuiltInOne) {
    ASSERT_NE(access("/etc/bindguard/policy.toml", F_OK), 0)
        << "this test needs a machine without /etc/bindguard/policy.toml";
    auto env = bgtest::shim_env();
    env.push_back("-BINDGUARD_POLICY");
    auto result = bgtest::run({bgtest::helper_path(), "bind", "tcp", "0.0.0.0:0"}, env);
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << result.out << result.err;
}

TEST(Policy, AuditModeBindsTheOriginalAndLogsWouldRewrite) {
    const auto policy = write_policy("version = 1\nmode = \"audit\"\n");
    auto result = in_netns("env $SHIM_ENV \"$HELPER\" bind tcp 0.0.0.0:0 listen", policy);
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "0") << result.err;
    EXPECT_EQ(f["local"].rfind("0.0.0.0:", 0), 0u) << f["local"];
    EXPECT_EQ(f["listening"], "1");
    EXPECT_NE(result.err.find("would-rewrite tcp 0.0.0.0:0 -> 127.0.0.1:0"), std::string::npos) << result.err;
}

}  // namespace

// With rewrites not logged, a public IPv4 bind with a port takes the library's short
// way (guard.cpp's rewrite_public_ipv4()); every answer must be the one the full
// decision gives when it logs. Each scenario runs under both policies, and their
// results (what the program sees and where its socket ends) must be equal.
TEST(Row01, TheShortWayForUnloggedRewritesGivesTheSameAnswers) {
    const std::string veth =
        "ip link add bgv0 type veth peer name bgv1 && ip addr add 10.253.0.1/24 dev bgv0 && "
        "ip link set bgv0 up && ip link set bgv1 up && ";
    const std::vector<std::string> scenarios = {
        "bind tcp 0.0.0.0:4351 listen", "bind udp 0.0.0.0:4352",     "bind tcp 10.253.0.1:4353",
        "bind tcp 127.0.0.5:4354",      "bind tcp 0.0.0.0:4355 v6only=1", "bind-short inet 15",
        "bind-long 4096",               "bind-mismatch 0.0.0.0:4356", "errno-check 0.0.0.0:4357",
        "bind tcp [::]:4358",           "bind tcp 192.0.2.1:4359"};
    for (const std::string loopback : {"", "[loopback]\nipv4 = \"127.0.0.2\"\n"}) {
        const std::string logged = write_policy("version = 1\n" + loopback + "[log]\nlevel = \"info\"\n");
        const std::string unlogged = write_policy("version = 1\n" + loopback + "[log]\nto = \"none\"\n");
        for (const auto& scenario : scenarios) {
            auto full = in_netns(veth + "env $SHIM_ENV \"$HELPER\" " + scenario, logged);
            auto short_way = in_netns(veth + "env $SHIM_ENV \"$HELPER\" " + scenario, unlogged);
            ASSERT_EQ(full.status, 0) << scenario << full.err;
            EXPECT_FALSE(result_of(full).empty()) << scenario << full.out << full.err;
            EXPECT_EQ(short_way.out, full.out) << scenario << " " << loopback;
            EXPECT_TRUE(log_lines(short_way.err).empty()) << short_way.err;
        }
        auto rewritten = in_netns(veth + "env $SHIM_ENV \"$HELPER\" bind tcp 10.253.0.1:4360", unlogged);
        EXPECT_EQ(result_of(rewritten)["local"], loopback.empty() ? "127.0.0.1:4360" : "127.0.0.2:4360")
            << rewritten.out << rewritten.err;
    }
}
