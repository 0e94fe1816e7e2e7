// Debian's docker-compose (1.29) `up` of Compose stacks shaped like the seeds' (tests/docker/
// compose/) against a dockerd with `bindguard docker authz`: the loopback ones start and
// answer on loopback only, the public one is refused with its message; compose-check agrees
// beforehand and audit afterwards.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "docker/docker_host.hpp"

using dockertest::DockerHost;

namespace {

std::string compose_file(const std::string& name) { return bgtest::source_dir() + "/tests/docker/compose/" + name; }

// `docker-compose -p project -f file ARGS` on the Docker host. Returns what it did.
bgtest::Result compose(DockerHost& host, const std::string& project, const std::string& file, const std::string& args) {
    return host.sh("exec docker-compose --ansi never -p " + project + " -f '" + compose_file(file) + "' " + args,
                   std::chrono::seconds(120));
}

std::optional<std::string> page_when_up(DockerHost& host, std::uint16_t port) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        if (auto page = host.get_locally(port)) return page;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
}

}  // namespace

TEST(DockerCompose, LoopbackStacksStartAndThePublicOneIsRefused) {
    // compose-check says the same before anything runs.
    EXPECT_EQ(bgtest::run({bgtest::cli_path(), "compose-check", compose_file("minibot.yml"), compose_file("wallet.yml")},
                          {"-BINDGUARD_POLICY"}).status, 0);
    bgtest::Result checked = bgtest::run({bgtest::cli_path(), "compose-check", compose_file("wallet-public.yml")}, {"-BINDGUARD_POLICY"});
    EXPECT_EQ(checked.status, 1);
    EXPECT_NE(checked.out.find("service \"daemon\": \"3100:3100\" publishes tcp port 3100 on every host address"), std::string::npos)
        << checked.out;

    DockerHost host("version = 1\n");
    bgtest::Result minibot = compose(host, "minibot", "minibot.yml", "up -d");
    ASSERT_EQ(minibot.status, 0) << minibot.out << minibot.err << host.plugin_log();
    bgtest::Result wallet = compose(host, "wallet", "wallet.yml", "up -d");
    ASSERT_EQ(wallet.status, 0) << wallet.out << wallet.err << host.plugin_log();
    for (std::uint16_t port : {5432, 6379, 27017, 3100}) {
        SCOPED_TRACE(port);
        EXPECT_EQ(page_when_up(host, port), "hello from the container\n");
        EXPECT_EQ(host.get_remotely(port), std::nullopt) << "reachable from the remote client";
    }
    compose(host, "wallet", "wallet.yml", "down");  // frees port 3100

    bgtest::Result refused = compose(host, "exposed", "wallet-public.yml", "up -d");
    EXPECT_NE(refused.status, 0) << refused.out;
    EXPECT_NE(refused.err.find("authorization denied by plugin bindguard: container \"exposed_daemon_1\" (Compose service "
                               "\"daemon\"): -p 3100:3100 publishes tcp port 3100 on every host address (0.0.0.0 and ::); "
                               "fix: -p 127.0.0.1:3100:3100 (Compose: \"127.0.0.1:3100:3100\")."),
              std::string::npos) << refused.err;
    EXPECT_EQ(host.docker({"ps", "-a", "--filter", "label=com.docker.compose.project=exposed", "--format", "{{.Names}}"}).out, "");
    EXPECT_EQ(host.get_remotely(3100), std::nullopt);

    // Audit afterwards: the Minibot stack's publishes, all on loopback, with their services.
    bgtest::Result audit = host.bindguard({"audit"});
    EXPECT_EQ(audit.status, 0) << audit.out << audit.err;
    for (const char* service : {"minibot/postgres", "minibot/redis", "minibot/mongo"})
        EXPECT_NE(audit.out.find(service), std::string::npos) << audit.out;
    EXPECT_NE(audit.out.find("; Docker: 3 publishes, 0 public\n"), std::string::npos) << audit.out;

    compose(host, "minibot", "minibot.yml", "down");
    compose(host, "exposed", "wallet-public.yml", "down");
}
