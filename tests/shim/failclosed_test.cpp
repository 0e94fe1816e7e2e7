// Fail closed where the library cannot see: a seccomp filter that makes the
// library's questions to the kernel fail, and a socket that
// already listens when it is refused. Everything that could bind a
// non-loopback address runs in a private network namespace.
#include <gtest/gtest.h>

#include <filesystem>

#include "shim_test_util.hpp"

namespace {

using namespace shimtest;

const std::string kEacces = std::to_string(EACCES);

// bg-seccomp, next to bg-bindtest.
std::string seccomp_path() {
    return (std::filesystem::path(bgtest::helper_path()).parent_path() / "bg-seccomp").string();
}

// Runs bg-bindtest ARGS in a network namespace with the system calls in failing
// (comma-separated) answering EPERM.
bgtest::Result with_failing(const std::string& failing, const std::string& args, const std::string& policy) {
    return in_netns("env $SHIM_ENV " + seccomp_path() + " " + failing + " \"$HELPER\" " + args, policy);
}

std::string deny_policy() { return write_policy("version = 1\n[default]\naction = \"deny\"\n"); }

TEST(FailClosed, DenyStandsWhenGetsockoptFails) {
    auto result = with_failing("getsockopt", "bind tcp 0.0.0.0:4000", deny_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
    EXPECT_EQ(f["local"], "0.0.0.0:0");
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("deny tcp 0.0.0.0:4000 -> EACCES"), std::string::npos) << logs[0];
}

TEST(FailClosed, PortZeroWildcardIsDeniedWhenTheProtocolCannotBeRead) {
    // The UDP-ephemeral clause needs the protocol: unknown (logged as "other"), so fail closed.
    auto result = with_failing("getsockopt", "bind tcp 0.0.0.0:0", default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("deny other 0.0.0.0:0 -> EACCES rule=fail-closed"), std::string::npos) << logs[0];
}

TEST(FailClosed, AfUnspecBindIsDeniedWhenTheSocketsFamilyCannotBeRead) {
    auto result = with_failing("getsockopt", "bind-family 0", default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
    EXPECT_EQ(f["local"], "0.0.0.0:0");
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("rule=fail-closed"), std::string::npos) << logs[0];
}

TEST(FailClosed, ListenOnANeverBoundSocketIsRefusedWhenGetsockoptFails) {
    auto result = with_failing("getsockopt", "listen-unbound tcp", default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
    EXPECT_EQ(f["local"], "0.0.0.0:0");
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("deny other 0.0.0.0:0 -> EACCES rule=fail-closed "), std::string::npos) << logs[0];
    EXPECT_NE(logs[0].find(" call=listen"), std::string::npos) << logs[0];
}

TEST(FailClosed, ListenIsRefusedWhenGetsocknameFails) {
    auto result = with_failing("getsockname,getsockopt", "listen-unbound tcp", default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
}

TEST(AlreadyListening, RefusedListenOnAnInheritedListenerSaysItStillListens) {
    // A parent without the library makes 0.0.0.0:4000 listen and execs the helper
    // with the socket (socket activation, Node's listen({fd})).
    const std::string script =
        "python3 -c 'import os, socket, sys\n"
        "s = socket.socket(); s.bind((\"0.0.0.0\", 4000)); s.listen(); os.set_inheritable(s.fileno(), True)\n"
        "env = dict(os.environ); [env.update([kv.split(\"=\", 1)]) for kv in os.environ[\"SHIM_ENV\"].split()]\n"
        "os.execve(os.environ[\"HELPER\"], [\"bg-bindtest\", \"listen-fd\", str(s.fileno())], env)'";
    auto result = in_netns(script, default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
    EXPECT_EQ(f["listening"], "1");  // the truth: it still listens
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("deny tcp 0.0.0.0:4000 -> EACCES rule=default"), std::string::npos) << logs[0];
    EXPECT_NE(logs[0].find(" note=already-listening"), std::string::npos) << logs[0];
}

}  // namespace

namespace {

// bindresvport(): glibc's binds inside libc where no preload sees it;
// the library's own version tries the same reserved ports through the policy.
TEST(Routes, BindresvportIsDecidedLikeBind) {
    auto result = in_netns("env $SHIM_ENV \"$HELPER\" bindresvport udp; "
                           "env $SHIM_ENV \"$HELPER\" bindresvport tcp 0.0.0.0:9; "
                           "env $SHIM_ENV \"$HELPER\" bindresvport udp [::]:0",
                           default_policy());
    const auto out = lines(result.out);
    ASSERT_EQ(out.size(), 3u) << result.out << result.err;
    const std::vector<std::string> prefixes{"127.0.0.1:", "127.0.0.1:", "[::ffff:127.0.0.1]:"};
    for (std::size_t i = 0; i < out.size(); ++i) {
        auto f = fields(out[i]);
        EXPECT_EQ(f["ret"], "0") << out[i];
        EXPECT_EQ(f["errno"], "1234") << out[i];  // untouched on success
        ASSERT_EQ(f["local"].rfind(prefixes[i], 0), 0u) << out[i];
        const int port = std::stoi(f["local"].substr(prefixes[i].size()));
        EXPECT_GE(port, 600) << out[i];
        EXPECT_LE(port, 1023) << out[i];
        if (i > 0) {
            EXPECT_EQ(f["given_port"], std::to_string(port)) << out[i];  // written back, as glibc does
        }
    }
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 3u) << result.err;
    for (const auto& line : logs) EXPECT_NE(line.find(" call=bindresvport"), std::string::npos) << line;
    EXPECT_NE(logs[0].find("rewrite udp 0.0.0.0:"), std::string::npos) << logs[0];

    auto denied = in_netns("env $SHIM_ENV \"$HELPER\" bindresvport udp", deny_policy());
    auto f = result_of(denied);
    EXPECT_EQ(f["ret"], "-1") << denied.out << denied.err;
    EXPECT_EQ(f["errno"], kEacces);
    EXPECT_EQ(f["local"], "0.0.0.0:0");
}

// rresvport_af() (and rcmd_af()'s listen) bind inside libc: a documented limit
// (docs/limits.md). The socket is not listening; this pins what happens.
TEST(Routes, RresvportBindsTheWildcardAsDocumented) {
    auto result = in_netns("env $SHIM_ENV \"$HELPER\" rresvport", default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "0") << result.out << result.err;
    EXPECT_EQ(f["local"].rfind("0.0.0.0:", 0), 0u) << result.out;
    EXPECT_TRUE(log_lines(result.err).empty()) << result.err;  // unseen
}

// sctp_bindx(3) is setsockopt(SOL_SCTP, SCTP_SOCKOPT_BINDX_ADD). This kernel has no
// SCTP, so the check itself is unit-tested (sockaddr_test.cpp) and, here, driven
// through the one path that needs no SCTP socket: a socket that cannot be asked.
TEST(Routes, SctpBindxOnASocketThatIsNotSctpGetsTheKernelsAnswer) {
    auto plain = helper_plain({"bindx", "0.0.0.0:80"});
    auto result = in_netns("env $SHIM_ENV \"$HELPER\" bindx 127.0.0.1:80 0.0.0.0:80", default_policy());
    EXPECT_EQ(result_of(plain)["errno"], std::to_string(ENOPROTOOPT)) << plain.out;
    EXPECT_EQ(result_of(result), result_of(plain)) << result.out << result.err;
    EXPECT_TRUE(log_lines(result.err).empty()) << result.err;
}

TEST(Routes, SctpBindxIsRefusedWhenTheSocketCannotBeAsked) {
    auto result = with_failing("getsockopt", "bindx 127.0.0.1:80 0.0.0.0:80", default_policy());
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "-1") << result.out << result.err;
    EXPECT_EQ(f["errno"], kEacces);
    const auto logs = log_lines(result.err);
    ASSERT_EQ(logs.size(), 1u) << result.err;
    EXPECT_NE(logs[0].find("rule=fail-closed"), std::string::npos) << logs[0];
    EXPECT_NE(logs[0].find(" call=sctp_bindx"), std::string::npos) << logs[0];
}

}  // namespace
