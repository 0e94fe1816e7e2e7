// `bindguard docker authz` as a server, without dockerd: the plugin protocol over its unix
// socket (curl --unix-socket, as dockerd would ask), a request it cannot read, a call it
// does not know, requests served while another connection stalls, and its socket removed
// when it stops.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/log_line.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;

bool exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

class AuthzServer {
public:
    explicit AuthzServer(const std::string& policy_text = "version = 1\n")
        : dir_(bgtest::temp_dir()),
          process_(start(dir_, policy_text)) {
        for (int i = 0; i < 200 && !exists(socket()) && process_.running(); ++i) std::this_thread::sleep_for(20ms);
    }
    ~AuthzServer() { bgtest::run({"rm", "-rf", dir_}); }

    std::string socket() const { return dir_ + "/plugins/bindguard.sock"; }
    std::string policy_path() const { return dir_ + "/policy.toml"; }
    bgtest::Process& process() { return process_; }

    // POST path with body over the socket. Returns {HTTP status, body} (status 0: no answer).
    std::pair<int, std::string> post(const std::string& path, const std::string& body) {
        bgtest::Result result = bgtest::run({"curl", "-sS", "--max-time", "10", "--unix-socket", socket(), "-w", "\n%{http_code}",
                                             "-H", "Content-Type: application/json", "--data-binary", body, "http://plugin" + path});
        std::size_t newline = result.out.rfind('\n');
        if (result.status != 0 || newline == std::string::npos) return {0, result.err};
        return {std::stoi(result.out.substr(newline + 1)), result.out.substr(0, newline)};
    }

private:
    static bgtest::Process start(const std::string& dir, const std::string& policy_text) {
        bgtest::write_file(dir + "/policy.toml", policy_text);
        return bgtest::Process::start({bgtest::cli_path(), "docker", "authz", "--policy", dir + "/policy.toml", "--socket",
                                       dir + "/plugins/bindguard.sock"},
                                      {"-BINDGUARD_POLICY"});
    }
    std::string dir_;
    bgtest::Process process_;
};

std::string create_request(const std::string& host_port) {
    std::string body = R"({"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":")" + host_port + R"("}]}}})";
    std::string encoded;
    // base64 of body, by the same tool an operator would use.
    bgtest::Result b64 = bgtest::run({"sh", "-c", "printf %s \"$0\" | base64 -w0", body});
    encoded = b64.out;
    return nlohmann::json{{"RequestMethod", "POST"}, {"RequestUri", "/v1.41/containers/create?name=web"}, {"RequestBody", encoded}}.dump();
}

}  // namespace

TEST(DockerAuthzServer, SpeaksThePluginProtocol) {
    AuthzServer server;
    ASSERT_TRUE(exists(server.socket())) << server.process().err_so_far();
    auto [status, body] = server.post("/Plugin.Activate", "");
    EXPECT_EQ(status, 200);
    EXPECT_EQ(nlohmann::json::parse(body, nullptr, false), nlohmann::json::parse(R"({"Implements":["authz"]})"));
    auto [denied_status, denied] = server.post("/AuthZPlugin.AuthZReq", create_request("80"));
    EXPECT_EQ(denied_status, 200);
    nlohmann::json answer = nlohmann::json::parse(denied, nullptr, false);
    EXPECT_EQ(answer["Allow"], false) << denied;
    EXPECT_NE(answer.value("Msg", "").find("container \"web\": -p 80:80 publishes tcp port 80 on every host address"),
              std::string::npos) << denied;
    auto [response_status, response] = server.post("/AuthZPlugin.AuthZRes", "{}");
    EXPECT_EQ(response_status, 200);
    EXPECT_EQ(nlohmann::json::parse(response, nullptr, false)["Allow"], true) << response;
    // A request it cannot read is refused, with the reason, and the server goes on.
    auto [garbage_status, garbage] = server.post("/AuthZPlugin.AuthZReq", "{\"RequestMethod\": ");
    EXPECT_EQ(garbage_status, 200);
    EXPECT_EQ(nlohmann::json::parse(garbage, nullptr, false)["Allow"], false) << garbage;
    EXPECT_NE(garbage.find("cannot check this request, so it is refused"), std::string::npos) << garbage;
    // A call it does not know.
    auto [unknown_status, unknown] = server.post("/VolumeDriver.Create", "{}");
    EXPECT_EQ(unknown_status, 404);
    EXPECT_NE(unknown.find("no such plugin call: /VolumeDriver.Create"), std::string::npos) << unknown;
    EXPECT_TRUE(server.process().running());
    // Each decision is logged with call=docker.
    EXPECT_NE(server.process().err_so_far().find("]: deny docker rule=default program=dockerd service=web call=docker "
                                                 "request=POST\\x20/v1.41/containers/create?name\\x3dweb container=web reason="),
              std::string::npos) << server.process().err_so_far();
    // SIGTERM: exit 0, the socket removed.
    bgtest::Result stopped = server.process().stop(SIGTERM);
    EXPECT_EQ(stopped.status, 0) << stopped.err;
    EXPECT_FALSE(exists(server.socket()));
}

TEST(DockerAuthzServer, ServesConcurrentRequestsWhileAConnectionStalls) {
    AuthzServer server;
    ASSERT_TRUE(exists(server.socket())) << server.process().err_so_far();
    // A client that sends half a request and waits.
    int stalled = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, server.socket().c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::connect(stalled, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    const char* half = "POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Length: 1000\r\n\r\n{";
    ASSERT_GT(::write(stalled, half, std::strlen(half)), 0);
    std::vector<std::future<std::pair<int, std::string>>> answers;
    for (int i = 0; i < 8; ++i)
        answers.push_back(std::async(std::launch::async, [&server, i] {
            return server.post("/AuthZPlugin.AuthZReq", create_request(i % 2 ? "80" : ""));
        }));
    for (auto& answer : answers) {
        auto [status, body] = answer.get();
        EXPECT_EQ(status, 200) << body;
        EXPECT_EQ(nlohmann::json::parse(body, nullptr, false)["Allow"], false) << body;
    }
    ::close(stalled);
}

TEST(DockerAuthzServer, RefusesAnInvalidPolicyAndAnotherPluginsSocket) {
    std::string dir = bgtest::temp_dir();
    bgtest::write_file(dir + "/bad.toml", "version = 1\n[[rule]]\nname = \"x\"\naction = \"permit\"\n");
    bgtest::Result bad = bgtest::run({bgtest::cli_path(), "docker", "authz", "--policy", dir + "/bad.toml", "--socket", dir + "/p.sock"});
    EXPECT_EQ(bad.status, 2) << bad.err;
    EXPECT_NE(bad.err.find(dir + "/bad.toml:4:"), std::string::npos) << bad.err;
    EXPECT_FALSE(exists(dir + "/p.sock"));
    AuthzServer first;
    ASSERT_TRUE(exists(first.socket()));
    bgtest::Result second = bgtest::run({bgtest::cli_path(), "docker", "authz", "--socket", first.socket()}, {"-BINDGUARD_POLICY"});
    EXPECT_EQ(second.status, 1);
    EXPECT_NE(second.err.find("another plugin already answers on " + first.socket()), std::string::npos) << second.err;
    EXPECT_TRUE(first.process().running());
    bgtest::write_file(dir + "/file", "x");
    bgtest::Result not_socket = bgtest::run({bgtest::cli_path(), "docker", "authz", "--socket", dir + "/file"}, {"-BINDGUARD_POLICY"});
    EXPECT_EQ(not_socket.status, 1);
    EXPECT_NE(not_socket.err.find("exists and is not a socket"), std::string::npos) << not_socket.err;
    bgtest::run({"rm", "-rf", dir});
}

// Under systemd's socket activation (the socket unit of `protect docker`), it serves the
// socket it is given (LISTEN_FDS), here from systemd-socket-activate, the same protocol.
TEST(DockerAuthzServer, ServesTheSocketSystemdPasses) {
    std::string dir = bgtest::temp_dir();
    std::string socket = dir + "/activated.sock";
    bgtest::Process activator = bgtest::Process::start(
        {"systemd-socket-activate", "-l", socket, bgtest::cli_path(), "docker", "authz", "--socket", dir + "/unused.sock"},
        {"-BINDGUARD_POLICY"});
    for (int i = 0; i < 200 && !exists(socket); ++i) std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(exists(socket)) << activator.err_so_far();
    bgtest::Result answer = bgtest::run({"curl", "-sS", "--max-time", "10", "--unix-socket", socket, "--data-binary",
                                         create_request("80"), "http://plugin/AuthZPlugin.AuthZReq"});
    EXPECT_EQ(answer.status, 0) << answer.err << activator.err_so_far();
    EXPECT_EQ(nlohmann::json::parse(answer.out, nullptr, false)["Allow"], false) << answer.out;
    // (It says so once its server runs, which may be just after it answered.)
    for (int i = 0; i < 250 && activator.err_so_far().find("on the socket systemd passed") == std::string::npos; ++i)
        std::this_thread::sleep_for(20ms);
    EXPECT_NE(activator.err_so_far().find("on the socket systemd passed"), std::string::npos) << activator.err_so_far();
    EXPECT_FALSE(exists(dir + "/unused.sock"));
    activator.stop(SIGTERM);
    bgtest::run({"rm", "-rf", dir});
}

// The policy's [log] decides where and how: JSON lines in a file, every decision at level
// debug (passes too), and mode = "audit" answers Allow with the denial logged as would-deny.
TEST(DockerAuthzServer, LogsToThePolicysSinkInItsFormat) {
    std::string dir = bgtest::temp_dir();
    AuthzServer server("version = 1\nmode = \"audit\"\n[log]\nto = \"file\"\npath = \"" + dir +
                       "/decisions.log\"\nformat = \"json\"\nlevel = \"debug\"\n");
    ASSERT_TRUE(exists(server.socket())) << server.process().err_so_far();
    auto [status, body] = server.post("/AuthZPlugin.AuthZReq", create_request("80"));
    EXPECT_EQ(status, 200);
    EXPECT_EQ(nlohmann::json::parse(body, nullptr, false)["Allow"], true) << body;
    nlohmann::json pass = {{"RequestMethod", "GET"}, {"RequestUri", "/v1.41/containers/json"}};
    EXPECT_EQ(server.post("/AuthZPlugin.AuthZReq", pass.dump()).first, 200);
    server.process().stop(SIGTERM);
    std::string log = bgtest::read_file(dir + "/decisions.log");
    std::vector<nlohmann::json> lines;
    for (std::size_t at = 0; at < log.size();) {
        std::size_t end = log.find('\n', at);
        lines.push_back(nlohmann::json::parse(log.substr(at, end - at), nullptr, false));
        at = end == std::string::npos ? log.size() : end + 1;
    }
    ASSERT_EQ(lines.size(), 2u) << log;
    EXPECT_EQ(lines[0]["call"], "docker");
    EXPECT_EQ(lines[0]["program"], "dockerd");
    EXPECT_EQ(lines[0]["action"], "would-deny");
    EXPECT_EQ(lines[0]["service"], "web");
    EXPECT_EQ(lines[0]["container"], "web");
    EXPECT_EQ(lines[0]["rule"], "default");
    EXPECT_EQ(lines[0]["mode"], "audit");
    EXPECT_EQ(lines[0]["request"], "POST /v1.41/containers/create?name=web");
    EXPECT_NE(lines[0]["reason"].get<std::string>().find("-p 80:80 publishes tcp port 80"), std::string::npos) << log;
    EXPECT_EQ(lines[1]["action"], "allow");
    EXPECT_EQ(lines[1]["request"], "GET /v1.41/containers/json");
    EXPECT_EQ(server.process().err_so_far().find("call=docker"), std::string::npos) << "logged to stderr as well";
    bgtest::run({"rm", "-rf", dir});
}

// A label comes from whoever calls Docker's API: in a text line it is one escaped field, so
// it can plant neither a field nor a line.
TEST(DockerAuthzServer, ALabelCannotPlantALogLine) {
    AuthzServer server;
    ASSERT_TRUE(exists(server.socket())) << server.process().err_so_far();
    const std::string planted = "web rule=allowed\nbindguard[1]: allow docker rule=fake";
    nlohmann::json body = {{"Labels", {{"com.docker.compose.service", planted}}},
                           {"HostConfig", {{"PortBindings", {{"80/tcp", {{{"HostPort", "80"}}}}}}}}};
    bgtest::Result b64 = bgtest::run({"sh", "-c", "printf %s \"$0\" | base64 -w0", body.dump()});
    nlohmann::json request = {{"RequestMethod", "POST"}, {"RequestUri", "/v1.41/containers/create?name=x"}, {"RequestBody", b64.out}};
    auto [status, answer] = server.post("/AuthZPlugin.AuthZReq", request.dump());
    EXPECT_EQ(status, 200);
    EXPECT_EQ(nlohmann::json::parse(answer, nullptr, false)["Allow"], false) << answer;
    server.process().stop(SIGTERM);
    std::string log = server.process().err_so_far();
    std::vector<std::string> decisions;
    for (std::size_t at = 0; at < log.size();) {
        std::size_t end = log.find('\n', at);
        std::string line = log.substr(at, end - at);
        if (line.starts_with("bindguard[")) decisions.push_back(line);
        at = end == std::string::npos ? log.size() : end + 1;
    }
    ASSERT_EQ(decisions.size(), 1u) << log;
    std::optional<bgtest::TextLogLine> parsed = bgtest::parse_text_log_line(decisions[0]);
    ASSERT_TRUE(parsed) << decisions[0];
    EXPECT_EQ(parsed->field("service"), planted);
    EXPECT_EQ(parsed->field("rule"), "default");
}

// The policy file is read again when it changes: a new rule applies at once, and while the
// file is invalid (or gone) every request is refused, saying why.
TEST(DockerAuthzServer, AChangedPolicyAppliesAndABrokenOneFailsClosed) {
    const std::string allowing = "version = 1\n[[rule]]\nname = \"web-public\"\naction = \"allow\"\nservice = \"web\"\nport = [80]\n";
    AuthzServer server(allowing);
    ASSERT_TRUE(exists(server.socket())) << server.process().err_so_far();
    auto allowed = [&] {
        auto [status, body] = server.post("/AuthZPlugin.AuthZReq", create_request("80"));
        EXPECT_EQ(status, 200);
        nlohmann::json answer = nlohmann::json::parse(body, nullptr, false);
        return std::pair(answer.value("Allow", false), answer.value("Msg", ""));
    };
    EXPECT_TRUE(allowed().first);
    const std::string policy = server.policy_path();
    bgtest::write_file(policy, "version = 1\n");
    auto [after_change, change_message] = allowed();
    EXPECT_FALSE(after_change);
    EXPECT_NE(change_message.find("-p 80:80 publishes"), std::string::npos) << change_message;
    bgtest::write_file(policy, "version = 1\n[[rule]]\nname = \"broken\"\naction = \"permit\"\n");
    auto [broken, broken_message] = allowed();
    EXPECT_FALSE(broken);
    EXPECT_NE(broken_message.find("the policy " + policy + " changed and is invalid: " + policy + ":4:"), std::string::npos)
        << broken_message;
    EXPECT_NE(broken_message.find("every request is refused until it is fixed"), std::string::npos) << broken_message;
    nlohmann::json listing = {{"RequestMethod", "GET"}, {"RequestUri", "/v1.41/containers/json"}};
    auto [listing_status, listing_body] = server.post("/AuthZPlugin.AuthZReq", listing.dump());
    EXPECT_EQ(nlohmann::json::parse(listing_body, nullptr, false)["Allow"], false) << "a broken policy refuses everything";
    ::unlink(policy.c_str());
    auto [gone, gone_message] = allowed();
    EXPECT_FALSE(gone);
    EXPECT_NE(gone_message.find("can no longer be read"), std::string::npos) << gone_message;
    bgtest::write_file(policy, allowing);
    EXPECT_TRUE(allowed().first) << server.process().err_so_far();
    EXPECT_NE(server.process().err_so_far().find("the policy " + policy + " changed: read it again"), std::string::npos);
}
