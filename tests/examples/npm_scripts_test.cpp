// The start scripts of examples/doable/package.json, run the way a user runs them
// (`npm run start:api`, with the built `bindguard` first on PATH), each in its own private
// network namespace: the service lands on loopback under the library, it is the child of
// npm itself (the script execs bindguard, which execs the service), and npm's SIGTERM
// stops it cleanly.
#include <signal.h>

#include <filesystem>
#include <sstream>
#include <thread>

#include "doable_support.hpp"

namespace {

struct NpmScript {
    std::string script;    // "start:api"
    std::string service;   // BINDGUARD_SERVICE it sets
    std::uint16_t port;    // the port it uses
    std::string health;    // health path
    std::string host_env;  // extra environment ("" for none)
    std::string local;     // where it must listen
    std::string program;   // what its command line must name (Next.js retitles itself)
};

const std::vector<NpmScript> kScripts = {
    {"start:web", "web", 3000, "/api/health", "", "[::ffff:127.0.0.1]:3000", "next-server (v"},
    {"start:web:standalone", "web", 3000, "/api/health", std::string("HOSTNAME=") + doable::kRealAddress,
     "127.0.0.1:3000", "next-server (v"},
    {"start:api", "api", 4000, "/health", "", "[::ffff:127.0.0.1]:4000", "api/server.mjs"},
    {"start:ws", "ws", 4001, "/health", "", "[::ffff:127.0.0.1]:4001", "ws/server.mjs"},
};

// Prints the script name (for gtest's names of parameterised tests). Returns nothing.
void PrintTo(const NpmScript& npm, std::ostream* out) { *out << npm.script; }

class DoableNpmScript : public ::testing::TestWithParam<NpmScript> {
protected:
    void SetUp() override {
        ASSERT_TRUE(doable::services_built());
        ASSERT_TRUE(doable::enter_private_netns());
    }
};

std::string label(const ::testing::TestParamInfo<NpmScript>& info) {
    std::string text = info.param.script;
    for (char& c : text)
        if (c == ':') c = '_';
    return text;
}

// The parent pid of pid, from /proc/PID/stat (-1 when unreadable).
pid_t parent_of(pid_t pid) {
    std::string stat = bgtest::read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream fields(stat.substr(close + 2));
    std::string state;
    pid_t parent = -1;
    fields >> state >> parent;
    return parent;
}

TEST_P(DoableNpmScript, RunsTheServiceOnLoopbackUnderTheLibrary) {
    const NpmScript& npm = GetParam();
    std::vector<std::string> env = doable::clean_env();
    std::string bin_dir = std::filesystem::path(bgtest::cli_path()).parent_path().string();
    const char* path = std::getenv("PATH");
    env.push_back("PATH=" + bin_dir + ":" + (path ? path : "/usr/bin:/bin"));
    for (const char* name : {"HOSTNAME", "PORT", "API_HOST", "WS_HOST", "NODE_OPTIONS"}) env.push_back(std::string("-") + name);
    env.push_back("npm_config_update_notifier=false");
    if (!npm.host_env.empty()) env.push_back(npm.host_env);
    if (bgtest::sanitized_build()) {  // see doable::protected_env()
        std::string preload = bgtest::preload_value();
        env.push_back("LD_PRELOAD=" + preload.substr(0, preload.rfind(':')));
    }
    bgtest::Process process = bgtest::Process::start({"npm", "--prefix", doable::dir(), "run", npm.script}, env);

    std::string why;
    auto listeners = doable::wait_listening(process, npm.port, why);
    ASSERT_TRUE(listeners.has_value()) << why;
    ASSERT_EQ(listeners->size(), 1u);
    EXPECT_EQ(listeners->front().local, npm.local);
    auto response = doable::http_get_patiently("127.0.0.1", npm.port, npm.health);
    ASSERT_TRUE(response.has_value());
    EXPECT_NE(response->find("{\"ok\":true,\"service\":\"" + npm.service + "\"}"), std::string::npos) << *response;
    EXPECT_FALSE(bgtest::http_get(doable::kRealAddress, npm.port, npm.health).has_value());

    doable::Audit audit = doable::audit();
    EXPECT_EQ(audit.status, 0) << audit.out << audit.err;
    auto entries = audit.tcp_on_port(npm.port);
    ASSERT_EQ(entries.size(), 1u) << audit.out;
    EXPECT_EQ(entries[0]["verdict"], "ok") << entries[0];
    EXPECT_EQ(entries[0]["protected"], true) << entries[0];
    EXPECT_EQ(entries[0]["service"], npm.service) << entries[0];
    ASSERT_TRUE(entries[0]["pid"].is_number()) << entries[0];
    EXPECT_NE(entries[0]["command"].get<std::string>().find(npm.program), std::string::npos) << entries[0];
    // No shell or bindguard process in between: the service is npm's own child.
    pid_t service_pid = entries[0]["pid"].get<pid_t>();
    EXPECT_EQ(parent_of(service_pid), process.pid()) << entries[0];

    bgtest::Result stopped = process.stop(SIGTERM, doable::kStopTimeout);
    EXPECT_EQ(stopped.status, 0) << stopped.out << stopped.err;
    EXPECT_NE(stopped.err.find("rule=doable-" + npm.service + " "), std::string::npos) << stopped.err;
    // npm's SIGTERM reached the service: it is gone with npm.
    auto deadline = std::chrono::steady_clock::now() + doable::kStopTimeout;
    while (std::filesystem::exists("/proc/" + std::to_string(service_pid)) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(service_pid))) << "the service outlived npm";
}

INSTANTIATE_TEST_SUITE_P(Doable, DoableNpmScript, ::testing::ValuesIn(kScripts), label);

}  // namespace
