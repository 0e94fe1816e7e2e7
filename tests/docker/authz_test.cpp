// `bindguard docker authz` as the authorization plugin of a real dockerd (Debian's docker.io,
// in private namespaces: docker_host.hpp): what `docker run` is refused and what it prints,
// what runs, what is reachable from the remote client, and a stopped plugin.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "docker/docker_host.hpp"
#include "support/log_line.hpp"

using dockertest::DockerHost;

namespace {

constexpr const char* kDenied = "authorization denied by plugin bindguard: ";

// The policy of these tests: the built-in rewrite, and one allow rule for the service "ledger".
const char* kPolicy =
    "version = 1\n"
    "[[rule]]\n"
    "name = \"ledger-public\"\n"
    "action = \"allow\"\n"
    "service = \"ledger\"\n"
    "port = [3300]\n"
    "protocol = \"tcp\"\n";

// The containers that exist (running or not). Returns their names.
std::string containers(DockerHost& host) { return host.docker({"ps", "-a", "--format", "{{.Names}}"}).out; }

// Expects `docker run ARGS` refused by the plugin with message (after "...plugin bindguard: "),
// and no container made.
void expect_refused(DockerHost& host, const std::vector<std::string>& run_args, const std::string& message) {
    const std::string before = containers(host);
    std::vector<std::string> args = {"run", "-d"};
    args.insert(args.end(), run_args.begin(), run_args.end());
    bgtest::Result result = host.docker(args);
    EXPECT_NE(result.status, 0) << result.out;
    EXPECT_NE(result.err.find(std::string(kDenied) + message), std::string::npos) << result.err;
    EXPECT_EQ(containers(host), before);
}

// What a failed request needs explained: the containers, the container's output, the sockets.
std::string diagnose(DockerHost& host, const std::string& container) {
    bgtest::Result logs = host.docker({"logs", container});
    return host.docker({"ps", "-a"}).out + logs.out + logs.err + host.sh("ss -ltn; ip -br addr").out +
           host.sh("curl -sS --max-time 3 http://127.0.0.1:3100/").err;
}

// The page from get() once the container's httpd answers (up to about 10 s). Returns it, or nullopt.
template <typename Get>
std::optional<std::string> page_when_up(Get get) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        if (std::optional<std::string> page = get()) return page;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
}

}  // namespace

TEST(DockerAuthz, PublicPublishesAreRefusedWithTheFix) {
    DockerHost host(kPolicy);
    const std::string image = dockertest::kImage;
    expect_refused(host, {"--name", "web", "-p", "3100:3100", image, "httpd", "-f", "-p", "3100", "-h", "/www"},
                   "container \"web\": -p 3100:3100 publishes tcp port 3100 on every host address (0.0.0.0 and ::); "
                   "fix: -p 127.0.0.1:3100:3100 (Compose: \"127.0.0.1:3100:3100\").");
    expect_refused(host, {"--name", "web", "-p", "0.0.0.0:3100:3100", image, "true"},
                   "container \"web\": -p 0.0.0.0:3100:3100 publishes tcp port 3100 on 0.0.0.0, every IPv4 address of "
                   "the host; fix: -p 127.0.0.1:3100:3100");
    expect_refused(host, {"--name", "web", "-p", "[::]:3100:3100/udp", image, "true"},
                   "container \"web\": -p [::]:3100:3100/udp publishes udp port 3100 on ::, every IPv6 address of the "
                   "host; fix: -p [::1]:3100:3100/udp (Compose: \"[::1]:3100:3100/udp\").");
    expect_refused(host, {"--name", "web", "-p", std::string(dockertest::kHostAddress) + ":3100:3100", image, "true"},
                   "container \"web\": -p 198.51.100.7:3100:3100 publishes tcp port 3100 on 198.51.100.7, which is not "
                   "loopback; fix: -p 127.0.0.1:3100:3100 (Compose: \"127.0.0.1:3100:3100\").");
    expect_refused(host, {"--name", "web", "--expose", "3100", "-P", image, "true"},
                   "container \"web\": -P publishes every port the container exposes (3100/tcp and the image's) on a "
                   "random port of every host address (0.0.0.0 and ::); fix: drop -P and publish each port on loopback, "
                   "e.g. -p 127.0.0.1:3100:3100");
    expect_refused(host, {"--name", "web", "--network", "host", image, "true"},
                   "container \"web\": --network host shares the host's network");
    // The same port on loopback is allowed; a public port the rule does not allow is not.
    expect_refused(host, {"--name", "ledger", "-p", "3301:3300", image, "true"}, "container \"ledger\": -p 3301:3300");
    // Requests written to slip past a plugin that reads them differently from dockerd (which
    // decodes the path, and matches JSON member names without regard to case) create nothing.
    // And one without a Content-Type, whose body dockerd reads but does not pass to the plugin.
    struct Sneaky {
        std::string content_type, uri, body, refusal;
    };
    for (const Sneaky& sneaky : std::vector<Sneaky>{
             {"application/json", "/v1.41/containers/cr%65ate?name=sneaky",
              R"({"Image":"bgtest/busybox:1","Cmd":["true"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"3100"}]}}})",
              "container \\\"sneaky\\\": -p 3100:80 publishes"},
             {"application/json", "/v1.41/containers/create?name=sneaky",
              R"({"Image":"bgtest/busybox:1","Cmd":["true"],"hostconfig":{"portbindings":{"80/tcp":[{"hostport":"3100"}]}}})",
              "container \\\"sneaky\\\": -p 3100:80 publishes"},
             {"", "/v1.41/containers/create?name=sneaky",
              R"({"Image":"bgtest/busybox:1","Cmd":["true"],"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"3100"}]}}})",
              "cannot check this request, so it is refused: POST /containers/create without a body"}}) {
        SCOPED_TRACE(sneaky.uri + " " + sneaky.body);
        bgtest::Result sent = host.sh("curl -sS --unix-socket \"$DIR/docker.sock\" -H 'Content-Type: " + sneaky.content_type +
                                      "' -X POST -d '" + sneaky.body + "' 'http://docker" + sneaky.uri + "'");
        EXPECT_EQ(sent.out.find("\"Id\""), std::string::npos) << sent.out;
        EXPECT_NE(sent.out.find(std::string(kDenied) + sneaky.refusal), std::string::npos) << sent.out << sent.err;
        EXPECT_EQ(containers(host), "");
    }
    // Each denial is logged as a line of the library's text format (read back by the tests'
    // strict reader of it), with call=docker.
    std::string log = host.plugin_log();
    std::optional<bgtest::TextLogLine> line;
    for (std::size_t at = 0; at < log.size() && !line;) {
        std::size_t end = log.find('\n', at);
        std::string text = log.substr(at, end == std::string::npos ? std::string::npos : end - at);
        if (text.find("container=web ") != std::string::npos) line = bgtest::parse_text_log_line(text);
        at = end == std::string::npos ? log.size() : end + 1;
    }
    ASSERT_TRUE(line) << log;
    EXPECT_EQ(line->words, (std::vector<std::string>{"deny", "docker"}));
    EXPECT_EQ(line->field("rule"), "default");
    EXPECT_EQ(line->field("program"), "dockerd");
    EXPECT_EQ(line->field("service"), "web");
    EXPECT_EQ(line->field("call"), "docker");
    EXPECT_EQ(line->field("request"), "POST /v1.41/containers/create?name=web");
    EXPECT_EQ(line->field("reason"), "container \"web\": -p 3100:3100 publishes tcp port 3100 on every host address (0.0.0.0 and "
                                     "::); fix: -p 127.0.0.1:3100:3100 (Compose: \"127.0.0.1:3100:3100\").");
    // Nothing listens, locally or remotely.
    EXPECT_EQ(host.get_locally(3100), std::nullopt);
    EXPECT_EQ(host.get_remotely(3100), std::nullopt);
}

TEST(DockerAuthz, LoopbackPublishRunsAndIsClosedRemotely) {
    DockerHost host(kPolicy);
    bgtest::Result run = host.docker({"run", "-d", "--name", "web", "-p", "127.0.0.1:3100:3100", dockertest::kImage, "httpd",
                                      "-f", "-p", "3100", "-h", "/www"});
    ASSERT_EQ(run.status, 0) << run.err << host.plugin_log();
    EXPECT_EQ(page_when_up([&] { return host.get_locally(3100); }), "hello from the container\n") << diagnose(host, "web");
    EXPECT_EQ(host.get_remotely(3100), std::nullopt) << "127.0.0.1:3100 is reachable from the remote client";
}

// A container labelled as the Compose service a rule allows runs, and its public publish is
// really public (which also shows that get_remotely() sees an open port).
TEST(DockerAuthz, ComposeServiceAllowedByARuleRuns) {
    DockerHost host(kPolicy);
    bgtest::Result run = host.docker({"run", "-d", "--name", "books_ledger_1", "--label", "com.docker.compose.service=ledger",
                                      "-p", "3300:3300", dockertest::kImage, "httpd", "-f", "-p", "3300", "-h", "/www"});
    ASSERT_EQ(run.status, 0) << run.err << host.plugin_log();
    EXPECT_EQ(page_when_up([&] { return host.get_remotely(3300); }), "hello from the container\n")
        << diagnose(host, "books_ledger_1");
    // The same label with another port is refused, naming both.
    expect_refused(host, {"--name", "books_ledger_2", "--label", "com.docker.compose.service=ledger", "-p", "3301:3300",
                          dockertest::kImage, "true"},
                   "container \"books_ledger_2\" (Compose service \"ledger\"): -p 3301:3300 publishes tcp port 3301");
}

// dockerd refuses every request while its configured plugin does not answer (after its own
// retries, about 45 s): a stopped plugin fails closed.
TEST(DockerAuthz, StoppedPluginFailsClosed) {
    DockerHost host(kPolicy);
    host.stop_plugin();
    bgtest::Result created = host.docker({"create", "--name", "web", "-p", "127.0.0.1:3100:3100", dockertest::kImage, "true"},
                                         std::chrono::seconds(120));
    EXPECT_NE(created.status, 0) << created.out;
    EXPECT_NE(created.err.find("plugin bindguard failed"), std::string::npos) << created.err;
    host.start_plugin();
    EXPECT_EQ(containers(host), "");
}
