// Real programs under the real library: a C host (bg-bindtest, python3), a C++
// host with its own libstdc++ and exceptions (bg-cxxhost), Node; each server is
// checked from the outside (/proc/net) and by a real HTTP request to 127.0.0.1.
// Also: concurrent binds from 8 threads, bind after fork(), and a bind that
// arrives before the library's constructor.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "shim_test_util.hpp"

namespace {

using namespace shimtest;

// Every test of this program runs in a private network namespace (shim_test_util.hpp).
[[maybe_unused]] ::testing::Environment* const kPrivateNetns = ::testing::AddGlobalTestEnvironment(new PrivateNetns);

// Starts a server, waits for its listener on port, checks where it listens and
// that a real request to 127.0.0.1 gets an answer; returns the server's stderr.
std::string serve_and_check(const std::vector<std::string>& argv, std::uint16_t port, const std::string& expected_local,
                            const std::string& expected_body) {
    auto server = bgtest::Process::start(argv, shim_env(default_policy()));
    auto listener = bgtest::wait_for_listener(port);
    EXPECT_TRUE(listener.has_value()) << server.err_so_far();
    if (!listener) return server.stop().err;
    EXPECT_EQ(listener->local, expected_local);
    int on_port = 0;
    for (const auto& socket : bgtest::sockets())
        if (socket.port == port && socket.listening && socket.proto == "tcp") ++on_port;
    EXPECT_EQ(on_port, 1) << "exactly one listener, the loopback one";
    auto response = bgtest::http_get("127.0.0.1", port);
    EXPECT_TRUE(response.has_value());
    if (response) {
        EXPECT_NE(response->find(" 200 "), std::string::npos) << *response;
        EXPECT_NE(response->find(expected_body), std::string::npos) << *response;
    }
    return server.stop().err;
}

std::string python_program() { return std::filesystem::canonical("/usr/bin/python3").string(); }

TEST(Programs, PythonHttpServerOnIpv4Wildcard) {
    const auto port = bgtest::free_port();
    const std::string dir = bgtest::temp_dir();
    bgtest::write_file(dir + "/hello.txt", "hello from python\n");
    const auto err = serve_and_check({"/usr/bin/python3", "-m", "http.server", "--bind", "0.0.0.0",
                                      "--directory", dir, std::to_string(port)},
                                     port, "127.0.0.1:" + std::to_string(port), "hello.txt");
    EXPECT_NE(err.find("rewrite tcp 0.0.0.0:" + std::to_string(port) + " -> 127.0.0.1:" + std::to_string(port) +
                       " rule=default program=" + python_program()),
              std::string::npos)
        << err;
}

TEST(Programs, PythonHttpServerOnIpv6Wildcard) {
    const auto port = bgtest::free_port();
    const std::string dir = bgtest::temp_dir();
    bgtest::write_file(dir + "/hello.txt", "hello\n");
    const auto err = serve_and_check({"/usr/bin/python3", "-m", "http.server", "--bind", "::", "--directory", dir,
                                      std::to_string(port)},
                                     port, "[::ffff:127.0.0.1]:" + std::to_string(port), "hello.txt");
    EXPECT_NE(err.find("rewrite tcp [::]:" + std::to_string(port) + " -> [::ffff:127.0.0.1]:"), std::string::npos)
        << err;
}

TEST(Programs, NodeHttpServerWithoutHost) {
    const auto port = bgtest::free_port();
    const auto err = serve_and_check(
        {"/usr/bin/node", "-e",
         "require('http').createServer((req, res) => res.end('hello from node')).listen(" + std::to_string(port) +
             ");"},
        port, "[::ffff:127.0.0.1]:" + std::to_string(port), "hello from node");
    EXPECT_NE(err.find("rewrite tcp [::]:" + std::to_string(port) + " -> [::ffff:127.0.0.1]:" +
                       std::to_string(port) + " rule=default program=/usr/bin/node"),
              std::string::npos)
        << err;
}

TEST(Programs, NodeNetServerOnPortZeroAndUdpClient) {
    // listen(0) gets an ephemeral loopback port; an unbound dgram socket sending
    // (an implicit bind of 0.0.0.0:0) keeps working (row 7).
    auto result = bgtest::run(
        {"/usr/bin/node", "-e",
         "const net = require('net'); const dgram = require('dgram');"
         "const s = net.createServer().listen(0, () => {"
         "  const a = s.address();"
         "  const u = dgram.createSocket('udp4');"
         "  u.send('x', a.port, '127.0.0.1', (e) => { console.log(a.address, a.port > 0, e ? e.code : 'sent');"
         "    u.close(); s.close(); });"
         "});"},
        shim_env(default_policy()));
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out, "::ffff:127.0.0.1 true sent\n") << result.err;
}

TEST(Programs, CxxHostWithItsOwnRuntime) {
    auto result = bgtest::run({bgtest::helper_path().substr(0, bgtest::helper_path().rfind('/')) + "/bg-cxxhost",
                               "0.0.0.0"},
                              shim_env(default_policy()));
    EXPECT_EQ(result.status, 0) << result.err;
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "0");
    EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << result.out;
    EXPECT_EQ(f["caught"], "after-bind");
}

TEST(Programs, EightThreadsBindConcurrently) {
    auto result = helper({"threads", "8", "0.0.0.0:0"}, default_policy());
    EXPECT_EQ(result.status, 0) << result.err;  // tsan preset: 66 on a data race
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "0") << result.out;
    std::set<std::string> distinct;
    std::size_t count = 0;
    std::string locals = f["locals"] + ",";
    for (std::size_t start = 0, comma; (comma = locals.find(',', start)) != std::string::npos; start = comma + 1) {
        const auto local = locals.substr(start, comma - start);
        EXPECT_EQ(local.rfind("127.0.0.1:", 0), 0u) << local;
        distinct.insert(local);
        ++count;
    }
    EXPECT_EQ(count, 8u);
    EXPECT_EQ(distinct.size(), 8u);
    EXPECT_EQ(log_lines(result.err).size(), 8u) << result.err;
}

TEST(Programs, BindAfterForkIsEnforcedAndLoggedWithTheChildsPid) {
    auto result = helper({"fork", "0.0.0.0:0"}, default_policy());
    int results = 0;
    for (const auto& line : lines(result.out)) {
        auto f = fields(line);
        EXPECT_EQ(f["ret"], "0") << line;
        EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << line;
        ++results;
    }
    EXPECT_EQ(results, 2) << result.out;
    std::set<std::string> pids;
    for (const auto& line : log_lines(result.err)) pids.insert(line.substr(0, line.find(']')));
    EXPECT_EQ(pids.size(), 2u) << result.err;
}

TEST(Programs, BindBeforeTheLibrarysConstructorAndAfterItsDestructorsGetsThePolicy) {
    const std::string early = bgtest::helper_path().substr(0, bgtest::helper_path().rfind('/')) + "/libbg-early.so";
    auto env = shim_env(default_policy());
    env.push_back("LD_PRELOAD=" + bgtest::preload_value() + ":" + early);
    auto result = bgtest::run({bgtest::helper_path(), "bind", "tcp", "127.0.0.1:0"}, env);
    const auto out = lines(result.out);
    ASSERT_EQ(out.size(), 3u) << result.out << result.err;
    EXPECT_EQ(out[0].rfind("early ", 0), 0u) << out[0];
    EXPECT_EQ(out[2].rfind("late ", 0), 0u) << out[2];
    for (const auto& line : {out[0], out[2]}) {
        auto f = fields(line);
        EXPECT_EQ(f["ret"], "0") << line;
        EXPECT_EQ(f["local"].rfind("127.0.0.1:", 0), 0u) << line;
    }
    EXPECT_EQ(log_lines(result.err).size(), 2u) << result.err;
}

TEST(Programs, ThreadsRacingTheInitialisationAllGetThePolicy) {
    // 8 threads bind at the same moment before the library is initialised: one
    // builds the state, the others wait for it; all are rewritten.
    const std::string early = bgtest::helper_path().substr(0, bgtest::helper_path().rfind('/')) + "/libbg-early.so";
    for (int round = 0; round < 5; ++round) {
        auto env = shim_env(default_policy());
        env.push_back("LD_PRELOAD=" + bgtest::preload_value() + ":" + early);
        env.push_back("BG_EARLY_THREADS=8");
        auto result = bgtest::run({bgtest::helper_path(), "bind", "tcp", "127.0.0.1:0"}, env);
        EXPECT_EQ(result.status, 0) << result.err;  // tsan preset: 66 on a data race
        const auto out = lines(result.out);
        ASSERT_FALSE(out.empty());
        ASSERT_EQ(out[0].rfind("threads locals=", 0), 0u) << result.out;
        std::string locals = fields(out[0])["locals"] + ",";
        int count = 0;
        for (std::size_t start = 0, comma; (comma = locals.find(',', start)) != std::string::npos; start = comma + 1) {
            EXPECT_EQ(locals.compare(start, 10, "127.0.0.1:"), 0) << locals;
            ++count;
        }
        EXPECT_EQ(count, 8);
        EXPECT_EQ(log_lines(result.err).size(), 10u) << result.err;  // 8 threads, early, late
    }
}

// A thread that is not the builder fork()s while the library builds its state:
// the child must build its own state and get the policy, not
// stay on the fail-closed bootstrap decision for good.
TEST(Programs, ChildForkedDuringTheInitialisationGetsThePolicy) {
    const std::string forker = bgtest::helper_path().substr(0, bgtest::helper_path().rfind('/')) + "/libbg-forker.so";
    std::string preload = bgtest::preload_value();
    // bg-forker's readlink() must come before the library's in the lookup order
    // (after the sanitizer runtime, which stays first in an asan build).
    const auto colon = preload.find(':');
    preload = colon == std::string::npos ? forker + ":" + preload
                                         : preload.substr(0, colon + 1) + forker + preload.substr(colon);
    auto env = shim_env(default_policy());
    env.push_back("LD_PRELOAD=" + preload);
    auto result = bgtest::run({bgtest::helper_path(), "bind", "tcp", "0.0.0.0:0"}, env);
    auto child = fields(lines(result.out).empty() ? "" : lines(result.out)[0]);
    ASSERT_EQ(lines(result.out).size(), 2u) << result.out << result.err;
    EXPECT_EQ(lines(result.out)[0].rfind("child ", 0), 0u) << result.out;
    EXPECT_EQ(child["ret"], "0") << result.out << result.err;
    EXPECT_EQ(child["local"].rfind("127.0.0.1:", 0), 0u) << result.out;
    auto parent = result_of(result);
    EXPECT_EQ(parent["ret"], "0");
    EXPECT_EQ(parent["local"].rfind("127.0.0.1:", 0), 0u) << result.out;
    EXPECT_EQ(log_lines(result.err).size(), 2u) << result.err;  // both rewrites logged
}

TEST(Programs, ASecondPreloadedInterposerStillChains) {
    // libbindguard.so first, then another bind()/listen() interposer: ours must
    // call the next definition (RTLD_NEXT), handing it the rewritten address.
    const std::string chain = bgtest::helper_path().substr(0, bgtest::helper_path().rfind('/')) + "/libbg-chain.so";
    auto env = shim_env(default_policy());
    env.push_back("LD_PRELOAD=" + bgtest::preload_value() + ":" + chain);
    const auto port = std::to_string(bgtest::free_port());
    auto result = bgtest::run({bgtest::helper_path(), "bind", "tcp", "0.0.0.0:" + port, "listen"}, env);
    auto f = result_of(result);
    EXPECT_EQ(f["ret"], "0") << result.err;
    EXPECT_EQ(f["listening"], "1");
    EXPECT_EQ(f["local"], "127.0.0.1:" + port);
    EXPECT_NE(result.err.find("chain bind 127.0.0.1:" + port + "\n"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("chain bind 0.0.0.0"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("chain listen "), std::string::npos) << result.err;
}

}  // namespace
