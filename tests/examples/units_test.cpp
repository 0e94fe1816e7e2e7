// examples/doable/systemd/doable-{web,api,ws}.service agree with the policy and the seeds'
// table: each names its service to the library, asks for loopback on the seeds' port,
// pins that same port in the kernel backstop, and meets its own row of policy.toml.
#include <algorithm>
#include <sstream>

#include "doable_support.hpp"

namespace {

struct Unit {
    std::string service;   // web, api, ws
    std::string port;      // the seeds' port
    std::string host_var;  // the service's own host setting
};

const std::vector<Unit> kUnits = {{"web", "3000", "HOSTNAME"}, {"api", "4000", "API_HOST"}, {"ws", "4001", "WS_HOST"}};

// The lines of the unit file that start with "Key=", without comments. Returns them.
std::vector<std::string> settings(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != '#' && line.find('=') != std::string::npos) lines.push_back(line);
    return lines;
}

bool has(const std::vector<std::string>& lines, const std::string& line) {
    return std::find(lines.begin(), lines.end(), line) != lines.end();
}

TEST(DoableUnits, EachUnitMatchesItsRowOfThePolicy) {
    for (const Unit& unit : kUnits) {
        SCOPED_TRACE(unit.service);
        std::string path = doable::dir() + "/systemd/doable-" + unit.service + ".service";
        std::vector<std::string> lines = settings(bgtest::read_file(path));
        ASSERT_FALSE(lines.empty()) << path << " is missing or empty";
        EXPECT_TRUE(has(lines, "Environment=BINDGUARD_SERVICE=" + unit.service)) << path;
        EXPECT_TRUE(has(lines, "Environment=BINDGUARD_POLICY=/etc/bindguard/policy.toml")) << path;
        EXPECT_TRUE(has(lines, "Environment=PORT=" + unit.port)) << path;
        EXPECT_TRUE(has(lines, "Environment=" + unit.host_var + "=127.0.0.1")) << path;
        EXPECT_TRUE(has(lines, "SocketBindAllow=tcp:" + unit.port)) << path;
        EXPECT_TRUE(has(lines, "SocketBindDeny=any")) << path;
        bool preloads = false;
        for (const std::string& line : lines) preloads |= line.starts_with("Environment=LD_PRELOAD=") && line.ends_with("/libbindguard.so");
        EXPECT_TRUE(preloads) << path;

        // Should the service ever ask for more than loopback, its own row of the policy decides.
        bgtest::Result explained = bgtest::run({bgtest::cli_path(), "explain", "--policy", doable::policy_path(), "--service",
                                                unit.service, "0.0.0.0:" + unit.port},
                                               doable::clean_env());
        EXPECT_EQ(explained.status, 0) << explained.err;
        EXPECT_EQ(explained.out, "rewrite tcp 0.0.0.0:" + unit.port + " -> 127.0.0.1:" + unit.port + " (rule doable-" +
                                     unit.service + ")\n");
    }
}

}  // namespace
