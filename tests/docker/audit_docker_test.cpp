// `bindguard audit` on a real Docker host (docker_host.hpp, without the plugin, so that public
// publishes exist): each publish with its container and verdict, judged by the address Docker
// publishes on; the remote client shows what really is reachable.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "docker/docker_host.hpp"

using dockertest::DockerHost;

namespace {

std::optional<std::string> page_when_up(DockerHost& host, std::uint16_t port, bool remotely) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        if (auto page = remotely ? host.get_remotely(port) : host.get_locally(port)) return page;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return std::nullopt;
}

// The line of text that contains every one of parts ("" when none). Returns it.
std::string line_with(const std::string& text, const std::vector<std::string>& parts) {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        bool all = true;
        for (const std::string& part : parts) all = all && line.find(part) != std::string::npos;
        if (all) return line;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return "";
}

const char* kPolicy = "version = 1\n[[rule]]\nname = \"ledger-public\"\naction = \"allow\"\nservice = \"ledger\"\nport = [3300]\n";

}  // namespace

TEST(DockerAudit, ListsEachPublishWithItsContainerAndVerdict) {
    DockerHost host(std::nullopt);
    bgtest::write_file(host.dir() + "/audit.toml", kPolicy);
    const std::string image = dockertest::kImage;
    ASSERT_EQ(host.docker({"run", "-d", "--name", "web", "-p", "3100:3100", image, "httpd", "-f", "-p", "3100", "-h", "/www"}).status, 0);
    ASSERT_EQ(host.docker({"run", "-d", "--name", "db", "-p", "127.0.0.1:5432:5432", image, "httpd", "-f", "-p", "5432", "-h", "/www"}).status, 0);
    ASSERT_EQ(host.docker({"run", "-d", "--name", "books_ledger_1", "--label", "com.docker.compose.project=books", "--label",
                           "com.docker.compose.service=ledger", "-p", "3300:3300", image, "httpd", "-f", "-p", "3300", "-h", "/www"})
                  .status, 0);
    ASSERT_EQ(host.docker({"run", "-d", "--name", "sniffer", "--network", "host", image, "sleep", "600"}).status, 0);
    ASSERT_TRUE(page_when_up(host, 3100, true)) << "the public publish is not reachable from the remote client";

    bgtest::Result table = host.bindguard({"audit", "--policy", host.dir() + "/audit.toml"});
    EXPECT_EQ(table.status, 1) << table.out << table.err;
    // docker-proxy's sockets are shown as the container's publish, with the fix.
    EXPECT_NE(line_with(table.out, {"tcp", "0.0.0.0:3100", "/docker-proxy (container web)", "exposed: Docker publishes it on 0.0.0.0",
                                    "fix: -p 127.0.0.1:3100:3100 (Compose: \"127.0.0.1:3100:3100\")"}),
              "") << table.out;
    EXPECT_NE(line_with(table.out, {"127.0.0.1:5432", "/docker-proxy (container db)", "ok"}), "") << table.out;
    // The Docker section: every publish, its container, image, Compose project/service and verdict.
    EXPECT_NE(table.out.find("Docker (" + host.socket() + "):"), std::string::npos) << table.out;
    EXPECT_NE(line_with(table.out, {"tcp", "0.0.0.0:3100", "web", image, "-", "exposed; fix: -p 127.0.0.1:3100:3100"}), "") << table.out;
    EXPECT_NE(line_with(table.out, {"tcp", "[::]:3100", "web", "exposed; fix: -p [::1]:3100:3100"}), "") << table.out;
    EXPECT_NE(line_with(table.out, {"127.0.0.1:5432", "db", image, "ok"}), "") << table.out;
    EXPECT_NE(line_with(table.out, {"0.0.0.0:3300", "books_ledger_1", "books/ledger", "allowed (rule ledger-public)"}), "") << table.out;
    EXPECT_NE(line_with(table.out, {"host network", "sniffer", "host-network; fix: drop --network host"}), "") << table.out;
    EXPECT_NE(table.out.find("; Docker: 6 publishes, 3 public\n"), std::string::npos) << table.out;

    bgtest::Result json = host.bindguard({"audit", "--json", "--policy", host.dir() + "/audit.toml"});
    EXPECT_EQ(json.status, 1);
    nlohmann::json document = nlohmann::json::parse(json.out, nullptr, false);
    ASSERT_TRUE(document.is_object()) << json.out;
    EXPECT_EQ(document["docker"]["public"], 3);
    bool found_web = false;
    for (const auto& publish : document["docker"]["publishes"]) {
        if (publish["container"] != "web" || publish["host_address"] != "0.0.0.0") continue;
        found_web = true;
        EXPECT_EQ(publish["verdict"], "exposed");
        EXPECT_EQ(publish["host_port"], 3100);
        EXPECT_EQ(publish["image"], image);
        EXPECT_EQ(publish["fix"], "-p 127.0.0.1:3100:3100 (Compose: \"127.0.0.1:3100:3100\")");
    }
    EXPECT_TRUE(found_web) << json.out;

    bgtest::Result metrics = host.bindguard({"audit", "--format", "prometheus", "--policy", host.dir() + "/audit.toml"});
    EXPECT_EQ(metrics.status, 1);
    EXPECT_NE(metrics.out.find("bindguard_audit_docker_publishes{verdict=\"exposed\"} 2\n"), std::string::npos) << metrics.out;
    EXPECT_NE(metrics.out.find("bindguard_audit_docker_public_publishes{proto=\"tcp\",address=\"0.0.0.0\",port=\"3100\","
                               "container=\"web\",image=\"" + image + "\",compose_project=\"\",compose_service=\"\"} 1\n"),
              std::string::npos) << metrics.out;
    // The Prometheus project's own parser and linter accept it.
    bgtest::write_file(host.dir() + "/metrics.prom", metrics.out);
    bgtest::Result promtool = bgtest::run({"sh", "-c", "promtool check metrics < \"$0\"", host.dir() + "/metrics.prom"});
    EXPECT_EQ(promtool.status, 0) << promtool.out << promtool.err;

    // From another network namespace, Docker's publishes are not that namespace's: a note, no list.
    bgtest::Result elsewhere = bgtest::run({"unshare", "-n", bgtest::cli_path(), "audit"},
                                           {"DOCKER_HOST=unix://" + host.socket(), "-BINDGUARD_POLICY"});
    EXPECT_EQ(elsewhere.status, 0) << elsewhere.out << elsewhere.err;
    EXPECT_NE(elsewhere.err.find("the Docker daemon at " + host.socket() + " runs in another network namespace"), std::string::npos)
        << elsewhere.err;
    EXPECT_EQ(elsewhere.out.find("Docker"), std::string::npos) << elsewhere.out;

    // Once the public ones are gone: exit 0.
    ASSERT_EQ(host.docker({"rm", "-f", "web", "sniffer"}).status, 0);
    bgtest::Result clean = host.bindguard({"audit", "--policy", host.dir() + "/audit.toml"});
    EXPECT_EQ(clean.status, 0) << clean.out << clean.err;
    EXPECT_NE(clean.out.find("; Docker: 3 publishes, 0 public\n"), std::string::npos) << clean.out;
}

// The false "ok" of a docker-proxy whose bind ended on loopback (as the kernel twin would
// rewrite it): Docker's packet rule publishes the port on every interface all the same, and
// audit says so. Docker's own docker-proxy processes for the port are replaced by one started
// by hand on 127.0.0.1, which stands for the rewritten one (`run --kernel` refuses Docker's).
TEST(DockerAudit, ADockerProxySocketOnLoopbackIsJudgedByWhatDockerPublishes) {
    DockerHost host(std::nullopt);
    ASSERT_EQ(host.docker({"run", "-d", "--name", "web", "-p", "3100:3100", dockertest::kImage, "httpd", "-f", "-p", "3100", "-h", "/www"})
                  .status, 0);
    bgtest::Result proxies = host.sh("ss -Hltnp 'sport = :3100' | grep -o 'pid=[0-9]*' | cut -d= -f2");
    ASSERT_NE(proxies.out, "") << proxies.err;
    for (std::size_t at = 0; at < proxies.out.size();) {
        std::size_t end = proxies.out.find('\n', at);
        ::kill(std::stoi(proxies.out.substr(at, end - at)), SIGTERM);
        at = end == std::string::npos ? proxies.out.size() : end + 1;
    }
    for (int i = 0; i < 100 && host.sh("ss -Hltn 'sport = :3100'").out != ""; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    bgtest::Result address = host.docker({"inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"});
    ASSERT_EQ(address.status, 0) << address.err;
    std::string container_ip = address.out.substr(0, address.out.find('\n'));
    bgtest::Process proxy = host.start({"/usr/sbin/docker-proxy", "-proto", "tcp", "-host-ip", "127.0.0.1", "-host-port", "3100",
                                        "-container-ip", container_ip, "-container-port", "3100"});
    EXPECT_EQ(page_when_up(host, 3100, false), "hello from the container\n");
    // What is true: the port is open from the remote client.
    EXPECT_EQ(page_when_up(host, 3100, true), "hello from the container\n");
    bgtest::Result table = host.bindguard({"audit"});
    EXPECT_EQ(table.status, 1) << table.out << table.err;
    EXPECT_NE(line_with(table.out, {"tcp", "127.0.0.1:3100", "/docker-proxy (container web)", "no",
                                    "exposed: Docker publishes it on 0.0.0.0; fix: -p 127.0.0.1:3100:3100"}),
              "") << table.out;
    EXPECT_EQ(line_with(table.out, {"127.0.0.1:3100", " ok"}), "") << table.out;
    proxy.stop(SIGTERM);
}

// Without a Docker socket, audit says nothing about Docker.
TEST(DockerAudit, NoDockerSocketNoDockerSection) {
    std::string dir = bgtest::temp_dir();
    bgtest::Result result = bgtest::run({"unshare", "-n", bgtest::cli_path(), "audit"},
                                        {"DOCKER_HOST=unix://" + dir + "/no-such.sock", "-BINDGUARD_POLICY"});
    EXPECT_EQ(result.status, 0) << result.err;
    EXPECT_EQ(result.out.find("Docker"), std::string::npos) << result.out;
    EXPECT_EQ(result.err, "");
    bgtest::Result json = bgtest::run({"unshare", "-n", bgtest::cli_path(), "audit", "--json"},
                                      {"DOCKER_HOST=unix://" + dir + "/no-such.sock", "-BINDGUARD_POLICY"});
    EXPECT_EQ(nlohmann::json::parse(json.out, nullptr, false)["docker"], nullptr) << json.out;
}
