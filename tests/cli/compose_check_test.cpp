// `bindguard compose-check`: real Compose files (the seeds' own snippets among them)
// checked by the built command; its output, positions and exit status.
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "cli_support.hpp"
#include "support/text.hpp"

namespace {

// Writes text to a compose.yaml of a fresh directory. Returns its path.
std::string compose_file(const std::string& text, const std::string& name = "compose.yaml") {
    return clitest::temp_file(name, text);
}

// `bindguard compose-check --policy POLICY args...` (the built-in policy's file unless
// the args name another). Returns what it did.
bgtest::Result compose_check(std::vector<std::string> args, const std::string& policy = bgtest::default_policy()) {
    args.insert(args.begin(), {"compose-check", "--policy", policy});
    return clitest::bindguard(args);
}

// The --json document's mappings by their text as written ("4000:4000"); fails the test
// when the output is not JSON.
std::map<std::string, nlohmann::json> mappings_by_text(const bgtest::Result& result) {
    nlohmann::json document = nlohmann::json::parse(result.out, nullptr, false);
    EXPECT_FALSE(document.is_discarded()) << result.out << result.err;
    std::map<std::string, nlohmann::json> by_text;
    if (document.is_discarded()) return by_text;
    for (const nlohmann::json& mapping : document["mappings"]) by_text[mapping["mapping"].get<std::string>()] = mapping;
    return by_text;
}

// The seeds' Doable rule: "127.0.0.1:HOSTPORT:CONTAINERPORT", never "4000:4000".
TEST(CliComposeCheck, DoableSnippetLoopbackIsOkAndThePlainPortIsReported) {
    std::string path = compose_file(
        "services:\n"
        "  api:\n"
        "    build: ./services/api\n"
        "    ports:\n"
        "      - \"127.0.0.1:4000:4000\"\n"
        "  ws:\n"
        "    ports:\n"
        "      - \"127.0.0.1:4001:4001\"\n"
        "  web:\n"
        "    ports:\n"
        "      - \"4000:4000\"\n");
    bgtest::Result result = compose_check({path});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_EQ(result.out, path + ":11:9: service \"web\": \"4000:4000\" publishes tcp port 4000 on every host address "
                                 "(0.0.0.0 and ::); fix: write \"127.0.0.1:4000:4000\"\n" +
                              path + ": 1 reported (3 services, 3 port mappings)\n");
    EXPECT_EQ(result.err, "");
}

// Minibot's docker/docker-compose.yml as its networking page describes it: every port on
// 127.0.0.1, which is exactly what its security-audit.sh checks.
TEST(CliComposeCheck, MinibotComposeFileIsOk) {
    std::string path = compose_file(
        "services:\n"
        "  postgres:\n"
        "    container_name: minibot-postgres\n"
        "    image: postgres:16\n"
        "    ports: [\"127.0.0.1:5432:5432\"]\n"
        "    networks: [minibot-net]\n"
        "    deploy: {resources: {limits: {memory: 1g, cpus: \"1.0\"}}}\n"
        "  redis:\n"
        "    container_name: minibot-redis\n"
        "    image: redis:7\n"
        "    command: [\"redis-server\", \"--requirepass\", \"${REDIS_PASSWORD}\"]\n"
        "    ports: [\"127.0.0.1:6379:6379\"]\n"
        "    networks: [minibot-net]\n"
        "  mongo:\n"
        "    container_name: minibot-mongo\n"
        "    ports: [\"127.0.0.1:27017:27017\"]\n"
        "  openclaw:\n"
        "    container_name: minibot-openclaw\n"
        "    ports: [\"127.0.0.1:18789:18789\"]\n"
        "networks:\n"
        "  minibot-net: {driver: bridge}\n",
        "docker-compose.yml");
    bgtest::Result result = compose_check({path});
    EXPECT_EQ(result.status, 0) << result.out << result.err;
    EXPECT_EQ(result.out, path + ": ok (4 services, 4 port mappings)\n");
}

// WAIaaS's compose file as published (ok), then its "DON'T" list as Compose mappings.
TEST(CliComposeCheck, WaiaasSnippetIsOkAndItsDontsAreReported) {
    std::string ok = compose_file(
        "services:\n"
        "  daemon:\n"
        "    image: ghcr.io/minhoyoo-iotrust/waiaas:latest\n"
        "    container_name: waiaas-daemon\n"
        "    ports:\n"
        "      - \"127.0.0.1:3100:3100\"\n"
        "    volumes:\n"
        "      - waiaas-data:/data\n"
        "    environment:\n"
        "      - WAIAAS_DATA_DIR=/data\n"
        "      - WAIAAS_DAEMON_HOSTNAME=0.0.0.0\n"
        "    restart: unless-stopped\n"
        "    healthcheck:\n"
        "      test: [\"CMD\", \"curl\", \"-f\", \"http://localhost:3100/health\"]\n"
        "      interval: 30s\n"
        "      timeout: 5s\n"
        "      start_period: 10s\n"
        "      retries: 3\n");
    bgtest::Result result = compose_check({ok});
    EXPECT_EQ(result.status, 0) << result.out << result.err;
    EXPECT_EQ(result.out, ok + ": ok (1 services, 1 port mappings)\n");

    std::string bad = compose_file(
        "services:\n"
        "  any:\n"
        "    ports:\n"
        "      - 3100:3100\n"
        "  wildcard:\n"
        "    ports:\n"
        "      - 0.0.0.0:3100:3100\n"
        "  subnet:\n"
        "    ports: ['192.168.1.100:3100:3100']\n"
        "  host:\n"
        "    image: ghcr.io/minhoyoo-iotrust/waiaas:latest\n"
        "    network_mode: host\n");
    result = compose_check({bad});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_EQ(result.out,
              bad + ":4:9: service \"any\": \"3100:3100\" publishes tcp port 3100 on every host address (0.0.0.0 and ::); "
                    "fix: write \"127.0.0.1:3100:3100\"\n" +
                  bad + ":7:9: service \"wildcard\": \"0.0.0.0:3100:3100\" publishes tcp port 3100 on 0.0.0.0, every IPv4 "
                        "address of the host; fix: write \"127.0.0.1:3100:3100\"\n" +
                  bad + ":9:13: service \"subnet\": \"192.168.1.100:3100:3100\" publishes tcp port 3100 on 192.168.1.100, "
                        "which is not loopback; fix: write \"127.0.0.1:3100:3100\"\n" +
                  bad + ":12:19: service \"host\": network_mode: host shares the host's network: whatever the container "
                        "binds is on the host, and its ports are not checked; fix: remove network_mode: host and publish "
                        "each port the service needs as \"127.0.0.1:PORT:PORT\"\n" +
                  bad + ": 4 reported (4 services, 3 port mappings)\n");
}

// Every short-syntax form of the Compose specification, judged with the built-in policy.
TEST(CliComposeCheck, EveryShortSyntax) {
    struct Case {
        std::string yaml;     // as written in the list
        std::string mapping;  // as Compose reads it
        std::string verdict;
        std::string fix;      // "" when not reported
    };
    const std::vector<Case> cases = {
        {"3000", "3000", "exposed", "write \"127.0.0.1::3000\""},
        {"\"3001\"", "3001", "exposed", "write \"127.0.0.1::3001\""},
        {"\"3002-3005\"", "3002-3005", "exposed", "write \"127.0.0.1::3002-3005\""},
        {"\"8000:8000\"", "8000:8000", "exposed", "write \"127.0.0.1:8000:8000\""},
        {"\"9090-9091:8080-8081\"", "9090-9091:8080-8081", "exposed", "write \"127.0.0.1:9090-9091:8080-8081\""},
        {"\"49100:22\"", "49100:22", "exposed", "write \"127.0.0.1:49100:22\""},
        {"\"8000-9000:80\"", "8000-9000:80", "exposed", "write \"127.0.0.1:8000-9000:80\""},
        {"\"6060:6060/udp\"", "6060:6060/udp", "exposed", "write \"127.0.0.1:6060:6060/udp\""},
        {"\"6061:6061/sctp\"", "6061:6061/sctp", "exposed", "write \"127.0.0.1:6061:6061/sctp\""},
        {"\"0.0.0.0:3100:3100\"", "0.0.0.0:3100:3100", "exposed", "write \"127.0.0.1:3100:3100\""},
        {"\"[::]:8080:80\"", "[::]:8080:80", "exposed", "write \"[::1]:8080:80\""},
        {"\":::8081:80\"", ":::8081:80", "exposed", "write \"[::1]:8081:80\""},
        {"\"10.0.0.5:5432:5432\"", "10.0.0.5:5432:5432", "exposed", "write \"127.0.0.1:5432:5432\""},
        {"\"127.0.0.1:8001:8001\"", "127.0.0.1:8001:8001", "ok", ""},
        {"\"127.0.0.1:5000-5010:5000-5010\"", "127.0.0.1:5000-5010:5000-5010", "ok", ""},
        {"\"127.0.0.1::5000\"", "127.0.0.1::5000", "ok", ""},
        {"\"127.0.0.53:53:53/udp\"", "127.0.0.53:53:53/udp", "ok", ""},  // all of 127.0.0.0/8
        {"\"::1:6000:6000\"", "::1:6000:6000", "ok", ""},
        {"\"[::1]:6001:6001\"", "[::1]:6001:6001", "ok", ""},
        {"\"[::ffff:127.0.0.1]:6002:6002\"", "[::ffff:127.0.0.1]:6002:6002", "ok", ""},  // v4-mapped loopback
        {"\"::ffff:127.0.0.2:6003:6003\"", "::ffff:127.0.0.2:6003:6003", "ok", ""},
    };
    std::string yaml = "services:\n  app:\n    ports:\n";
    for (const Case& c : cases) yaml += "      - " + c.yaml + "\n";
    bgtest::Result result = compose_check({"--json", compose_file(yaml)});
    EXPECT_EQ(result.status, 1) << result.err;
    auto mappings = mappings_by_text(result);
    ASSERT_EQ(mappings.size(), cases.size()) << result.out;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const Case& c = cases[i];
        SCOPED_TRACE(c.mapping);
        ASSERT_TRUE(mappings.contains(c.mapping));
        const nlohmann::json& m = mappings[c.mapping];
        EXPECT_EQ(m["verdict"], c.verdict);
        EXPECT_EQ(m["line"], 4 + i);
        EXPECT_EQ(m["column"], 9);
        EXPECT_EQ(m["service"], "app");
        EXPECT_EQ(m["syntax"], "short");
        EXPECT_EQ(m["reported"], c.verdict != "ok");
        if (c.fix.empty()) EXPECT_TRUE(m["fix"].is_null()) << m;
        else EXPECT_EQ(m["fix"], c.fix);
    }
    EXPECT_EQ(mappings["[::]:8080:80"]["host_address"], "::");
    EXPECT_EQ(mappings["[::]:8080:80"]["reason"], "publishes tcp port 8080 on ::, every IPv6 address of the host");
    EXPECT_EQ(mappings["3000"]["host_address"], nullptr);
    EXPECT_EQ(mappings["3000"]["reason"],
              "publishes tcp container port 3000 on a random port of every host address (0.0.0.0 and ::)");
    EXPECT_EQ(mappings["8000-9000:80"]["reason"], "publishes tcp ports 8000-9000 on every host address (0.0.0.0 and ::)");
    EXPECT_EQ(mappings["6060:6060/udp"]["protocol"], "udp");
    EXPECT_EQ(mappings["6060:6060/udp"]["reason"], "publishes udp port 6060 on every host address (0.0.0.0 and ::)");
    EXPECT_EQ(mappings["6061:6061/sctp"]["reason"], "publishes sctp port 6061 on every host address (0.0.0.0 and ::)");
    EXPECT_EQ(mappings["::1:6000:6000"]["host_address"], "::1");
    EXPECT_EQ(mappings["127.0.0.1::5000"]["published"], nullptr);
    EXPECT_EQ(mappings["127.0.0.1::5000"]["target"], "5000");
}

// target, published, host_ip, protocol, mode: the position is host_ip's when it is written.
TEST(CliComposeCheck, LongSyntax) {
    std::string path = compose_file(
        "services:\n"
        "  web:\n"
        "    ports:\n"
        "      - target: 80\n"
        "        published: 8080\n"
        "        host_ip: 127.0.0.1\n"
        "        protocol: tcp\n"
        "        mode: host\n"
        "      - target: 443\n"
        "        published: \"8443\"\n"
        "        app_protocol: https\n"
        "      - {target: 53, published: 5353, protocol: udp, host_ip: \"0.0.0.0\"}\n"
        "      - target: 9000\n"
        "        host_ip: \"::1\"\n"
        "      - target: 9001\n"
        "        published: 9001-9002\n"
        "        host_ip: \"::\"\n");
    bgtest::Result result = compose_check({path});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_EQ(result.out,
              path + ":9:9: service \"web\": {target: 443, published: 8443} publishes tcp port 8443 on every host address "
                     "(0.0.0.0 and ::); fix: write \"host_ip: 127.0.0.1\"\n" +
                  path + ":12:63: service \"web\": {target: 53, published: 5353, host_ip: 0.0.0.0, protocol: udp} publishes "
                         "udp port 5353 on 0.0.0.0, every IPv4 address of the host; fix: write \"host_ip: 127.0.0.1\"\n" +
                  path + ":17:18: service \"web\": {target: 9001, published: 9001-9002, host_ip: ::} publishes tcp ports "
                         "9001-9002 on ::, every IPv6 address of the host; fix: write \"host_ip: \"::1\"\"\n" +
                  path + ": 3 reported (1 services, 5 port mappings)\n");
}

// Compose interpolates ${VAR:-default} when it runs: only the host address decides, and
// an address that comes from a variable cannot be checked.
TEST(CliComposeCheck, InterpolationOnlyTheHostAddressDecides) {
    std::string path = compose_file(
        "services:\n"
        "  api:\n"
        "    ports:\n"
        "      - \"127.0.0.1:${API_PORT:-4000}:4000\"\n"
        "      - \"${BIND_IP:-127.0.0.1}:4001:4001\"\n"
        "      - \"${WEB_PORT:-3000}:3000\"\n"
        "      - \"$HOST_IP:3001:3001\"\n"
        "      - \"127.0.0.1:$${NOT_A_VAR}:1\"\n"
        "      - target: 5000\n"
        "        host_ip: ${LISTEN:-0.0.0.0}\n"
        "    network_mode: ${NETWORK_MODE:-bridge}\n");
    bgtest::Result result = compose_check({"--json", path});
    EXPECT_EQ(result.status, 2) << result.out;  // "$${NOT_A_VAR}" is the text "${NOT_A_VAR}": not a port
    EXPECT_EQ(result.err, path + ":8:9: error: service \"api\": port mapping \"127.0.0.1:$${NOT_A_VAR}:1\": invalid host port "
                                 "\"$${NOT_A_VAR}\" (a port 0-65535 or a range FIRST-LAST)\n");
    auto mappings = mappings_by_text(result);
    EXPECT_EQ(mappings["127.0.0.1:${API_PORT:-4000}:4000"]["verdict"], "ok");
    EXPECT_EQ(mappings["${BIND_IP:-127.0.0.1}:4001:4001"]["verdict"], "unknown");
    EXPECT_EQ(mappings["${BIND_IP:-127.0.0.1}:4001:4001"]["reason"],
              "takes its host address from a variable (\"${BIND_IP:-127.0.0.1}\"): unknown until compose runs, so it cannot "
              "be checked");
    EXPECT_EQ(mappings["${BIND_IP:-127.0.0.1}:4001:4001"]["fix"], "write \"127.0.0.1:4001:4001\"");
    EXPECT_EQ(mappings["${WEB_PORT:-3000}:3000"]["verdict"], "exposed");
    EXPECT_EQ(mappings["${WEB_PORT:-3000}:3000"]["reason"], "publishes tcp port ${WEB_PORT:-3000} on every host address (0.0.0.0 and ::)");
    EXPECT_EQ(mappings["${WEB_PORT:-3000}:3000"]["fix"], "write \"127.0.0.1:${WEB_PORT:-3000}:3000\"");
    EXPECT_EQ(mappings["$HOST_IP:3001:3001"]["verdict"], "unknown");
    EXPECT_EQ(mappings["{target: 5000, host_ip: ${LISTEN:-0.0.0.0}}"]["verdict"], "unknown");
    EXPECT_EQ(mappings["${NETWORK_MODE:-bridge}"]["verdict"], "unknown");
    EXPECT_EQ(mappings["${NETWORK_MODE:-bridge}"]["syntax"], "network_mode");
}

// Anchors and aliases are resolved (an aliased entry is reported where it is written, with
// the service that uses it), and so are merge keys, with the service's own keys first.
TEST(CliComposeCheck, AnchorsAliasesAndMergeKeys) {
    std::string path = compose_file(
        "x-public: &public\n"
        "  - \"4000:4000\"\n"
        "x-base: &base\n"
        "  image: example/app\n"
        "  ports: *public\n"
        "x-loopback: &loopback\n"
        "  ports: [\"127.0.0.1:5000:5000\"]\n"
        "x-host: &host\n"
        "  network_mode: host\n"
        "services:\n"
        "  api:\n"
        "    <<: *base\n"
        "  web:\n"
        "    <<: *base\n"
        "    ports:\n"
        "      - \"127.0.0.1:3000:3000\"\n"
        "  worker:\n"
        "    <<: [*loopback, *base]\n"
        "  proxy:\n"
        "    <<: *host\n"
        "  copy: *base\n");
    bgtest::Result result = compose_check({path});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_EQ(result.out,
              path + ":2:5: service \"api\": \"4000:4000\" publishes tcp port 4000 on every host address (0.0.0.0 and ::); "
                     "fix: write \"127.0.0.1:4000:4000\"\n" +
                  path + ":2:5: service \"copy\": \"4000:4000\" publishes tcp port 4000 on every host address (0.0.0.0 and ::); "
                         "fix: write \"127.0.0.1:4000:4000\"\n" +
                  path + ":9:17: service \"proxy\": network_mode: host shares the host's network: whatever the container binds "
                         "is on the host, and its ports are not checked; fix: remove network_mode: host and publish each port "
                         "the service needs as \"127.0.0.1:PORT:PORT\"\n" +
                  path + ": 3 reported (5 services, 4 port mappings)\n");
}

// `extends` of a service of the same file: the base's ports are appended to the service's
// own (and checked under the service's name, which the policy sees), its network_mode is
// inherited unless the service sets one. What is in other files is named as not checked.
TEST(CliComposeCheck, ExtendsFollowsServicesOfTheSameFile) {
    std::string policy = bgtest::write_policy(
        "version = 1\n[[rule]]\nname = \"base-public\"\naction = \"allow\"\nservice = \"base\"\nport = [5000]\n");
    std::string path = compose_file(
        "include:\n"
        "  - other/compose.yaml\n"
        "services:\n"
        "  base:\n"
        "    ports: [\"127.0.0.1:4000:4000\", \"5000:5000\"]\n"
        "    network_mode: host\n"
        "  api:\n"
        "    extends: base\n"
        "    ports: [\"127.0.0.1:4001:4001\"]\n"
        "  web:\n"
        "    extends:\n"
        "      service: api\n"
        "    network_mode: bridge\n"
        "  far:\n"
        "    extends: {service: x, file: common.yaml}\n");
    bgtest::Result result = compose_check({path}, policy);
    EXPECT_EQ(result.status, 1) << result.err;
    std::string exposed = "\"5000:5000\" publishes tcp port 5000 on every host address (0.0.0.0 and ::); fix: write "
                          "\"127.0.0.1:5000:5000\"\n";
    std::string host = "network_mode: host shares the host's network: whatever the container binds is on the host, and its "
                       "ports are not checked; fix: remove network_mode: host and publish each port the service needs as "
                       "\"127.0.0.1:PORT:PORT\"\n";
    EXPECT_EQ(result.out, path + ":5:36: service \"api\": " + exposed +  // base's own 5000 is allowed by the policy
                              path + ":5:36: service \"web\": " + exposed +
                              path + ":6:19: service \"base\": " + host +
                              path + ":6:19: service \"api\": " + host +  // web sets its own network_mode
                              path + ": 4 reported (4 services, 8 port mappings)\n");
    EXPECT_EQ(result.err, path + ":2:3: warning: the files under \"include\" are not checked here: name them to compose-check too\n" +
                              path + ":15:14: warning: service \"far\" extends \"x\" of common.yaml: the ports it inherits from "
                                     "that file are not checked here\n");

    path = compose_file(
        "services:\n"
        "  a:\n    extends: b\n"
        "  b:\n    extends: a\n"
        "  c:\n    extends: nothing\n");
    result = compose_check({path});
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.err, path + ":3:14: error: \"extends\" loops: a -> b -> a\n" +
                              path + ":5:14: error: \"extends\" loops: b -> a -> b\n" +
                              path + ":7:14: error: service \"c\" extends \"nothing\", which is not a service of this file\n");
}

// A policy's allow rules: the Compose service name is the rule's service; every address,
// port and protocol the mapping can publish on must be allowed.
TEST(CliComposeCheck, PolicyAllowRulesMatchTheServiceName) {
    std::string policy = bgtest::write_policy(
        "version = 1\n"
        "[[rule]]\n"
        "name = \"public-proxy\"\n"
        "action = \"allow\"\n"
        "service = \"proxy\"\n"
        "port = [80, 443]\n"
        "protocol = \"tcp\"\n"
        "[[rule]]\n"
        "name = \"dns-v4\"\n"
        "action = \"allow\"\n"
        "service = \"dns\"\n"
        "address = [\"0.0.0.0/0\"]\n"
        "port = [53]\n");
    std::string path = compose_file(
        "services:\n"
        "  proxy:\n"
        "    ports: [\"80:80\", \"0.0.0.0:443:443\", \"80-81:80-81\", \"443:443/udp\", \"8080:80\", \"80\"]\n"
        "  web:\n"
        "    ports: [\"80:80\"]\n"
        "  dns:\n"
        "    ports: [\"0.0.0.0:53:53/udp\", \"53:53/udp\", \"[::]:53:53\"]\n");
    bgtest::Result result = compose_check({"--json", path}, policy);
    EXPECT_EQ(result.status, 1) << result.err;
    nlohmann::json document = nlohmann::json::parse(result.out, nullptr, false);
    ASSERT_FALSE(document.is_discarded()) << result.out;
    EXPECT_EQ(document["policy"], policy);
    std::vector<std::tuple<std::string, std::string, std::string, std::string>> expected = {
        {"proxy", "80:80", "allowed", "public-proxy"},
        {"proxy", "0.0.0.0:443:443", "allowed", "public-proxy"},
        {"proxy", "80-81:80-81", "exposed", "default"},  // 81 is not allowed
        {"proxy", "443:443/udp", "exposed", "default"},  // the rule is tcp only
        {"proxy", "8080:80", "exposed", "default"},      // the host port decides, not the container's
        {"proxy", "80", "exposed", "default"},           // a random host port
        {"web", "80:80", "exposed", "default"},          // another service
        {"dns", "0.0.0.0:53:53/udp", "allowed", "dns-v4"},
        {"dns", "53:53/udp", "exposed", "default"},      // Docker publishes on :: too
        {"dns", "[::]:53:53", "exposed", "default"},
    };
    ASSERT_EQ(document["mappings"].size(), expected.size()) << result.out;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const nlohmann::json& m = document["mappings"][i];
        auto [service, mapping, verdict, rule] = expected[i];
        SCOPED_TRACE(service + " " + mapping);
        EXPECT_EQ(m["service"], service);
        EXPECT_EQ(m["mapping"], mapping);
        EXPECT_EQ(m["verdict"], verdict);
        EXPECT_EQ(m["rule"], rule);
    }
    EXPECT_EQ(document["reported"], 7);

    // The same file without the policy: only the loopback mappings would pass.
    result = compose_check({path});
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(clitest::lines(result.out).back(), path + ": 10 reported (3 services, 10 port mappings)");

    // network_mode: host is allowed only by a rule that lets the service bind anything.
    std::string everything = bgtest::write_policy(
        "version = 1\n"
        "[[rule]]\nname = \"edge-anything\"\naction = \"allow\"\nservice = \"edge\"\n"
        "[[rule]]\nname = \"proxy-web\"\naction = \"allow\"\nservice = \"proxy\"\nport = [80, 443]\n");
    std::string host = compose_file("services:\n  edge:\n    network_mode: host\n  proxy:\n    network_mode: host\n");
    result = compose_check({host}, everything);
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, host + ":5:19: service \"proxy\": network_mode: host shares the host's network: whatever the "
                                 "container binds is on the host, and its ports are not checked; fix: remove network_mode: "
                                 "host and publish each port the service needs as \"127.0.0.1:PORT:PORT\"\n" +
                              host + ": 1 reported (2 services, 0 port mappings)\n");
}

TEST(CliComposeCheck, InvalidYamlExits2WithItsPosition) {
    std::string path = compose_file(
        "services:\n"
        "  api:\n"
        "    ports: [\"127.0.0.1:4000:4000\"\n"
        "  web: {}\n");
    bgtest::Result result = compose_check({path});
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(result.err, path + ":4:3: error: invalid YAML: end of sequence flow not found\n");

    path = compose_file("services:\n  api:\n    ports:\n    - \"4000:4000\"\n   bad: indent\n");
    result = compose_check({path});
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with(path + ":5:")) << result.err;
    EXPECT_NE(result.err.find("error: invalid YAML: "), std::string::npos) << result.err;

    path = compose_file("services:\n  api:\n    ports: *nowhere\n");
    result = compose_check({path});
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.err, path + ":3:12: error: invalid YAML: the referenced anchor is not defined\n");
}

// What Compose itself would refuse is an error (exit 2) at its position, and the rest of
// the file is still checked.
TEST(CliComposeCheck, MalformedEntriesExit2WithTheirPositions) {
    std::string path = compose_file(
        "services:\n"
        "  a:\n"
        "    ports:\n"
        "      - \"abc\"\n"
        "      - \"70000:80\"\n"
        "      - \"1.2.3:80:80\"\n"
        "      - \"80:80/icmp\"\n"
        "      - \"${UNCLOSED:80\"\n"
        "      - \"1-3:1-2\"\n"
        "      - published: 80\n"
        "      - [80]\n"
        "      - \"4000:4000\"\n"
        "  b:\n"
        "    ports: \"80:80\"\n"
        "  c: [not, a, mapping]\n"
        "  d:\n"
        "    ports: []\n"
        "    ports: [\"80:80\"]\n");
    bgtest::Result result = compose_check({path});
    EXPECT_EQ(result.status, 2) << result.out;
    EXPECT_EQ(result.err,
              path + ":4:9: error: service \"a\": port mapping \"abc\": invalid container port \"abc\" (a port 1-65535 or a range FIRST-LAST)\n" +
              path + ":5:9: error: service \"a\": port mapping \"70000:80\": invalid host port \"70000\" (a port 0-65535 or a range FIRST-LAST)\n" +
              path + ":6:9: error: service \"a\": port mapping \"1.2.3:80:80\": invalid host address \"1.2.3\"\n" +
              path + ":7:9: error: service \"a\": port mapping \"80:80/icmp\": unknown protocol \"icmp\" (tcp, udp or sctp)\n" +
              path + ":8:9: error: service \"a\": port mapping \"${UNCLOSED:80\": unterminated \"${\" in \"${UNCLOSED:80\"\n" +
              path + ":9:9: error: service \"a\": port mapping \"1-3:1-2\": the host ports \"1-3\" and the container ports \"1-2\" are ranges of different sizes\n" +
              path + ":10:9: error: service \"a\": port mapping {published: 80}: no \"target\" (the container port)\n" +
              path + ":11:9: error: service \"a\": a \"ports\" entry must be a string, a number or a mapping\n" +
              path + ":14:12: error: service \"b\": \"ports\" must be a list\n" +
              path + ":15:6: error: service \"c\" must be a mapping\n" +
              path + ":18:5: error: the key \"ports\" appears twice in this mapping\n");
    // The valid entry is still judged.
    EXPECT_EQ(result.out, path + ":12:9: service \"a\": \"4000:4000\" publishes tcp port 4000 on every host address (0.0.0.0 and ::); "
                                 "fix: write \"127.0.0.1:4000:4000\"\n");
}

TEST(CliComposeCheck, ExitStatuses) {
    std::string ok = compose_file("services:\n  api:\n    ports: [\"127.0.0.1:4000:4000\"]\n");
    std::string reported = compose_file("services:\n  api:\n    ports: [\"4000:4000\"]\n");
    std::string empty = compose_file("");
    std::string no_services = compose_file("volumes:\n  data: {}\n");

    EXPECT_EQ(compose_check({ok}).status, 0);
    EXPECT_EQ(compose_check({no_services}).status, 0);
    EXPECT_EQ(compose_check({reported}).status, 1);
    EXPECT_EQ(compose_check({ok, reported}).status, 1);

    bgtest::Result result = compose_check({empty});
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.err, empty + ":1:1: error: the file is empty: a Compose file is a mapping with \"services\"\n");

    result = compose_check({ok, "/nonexistent/compose.yaml"});
    EXPECT_EQ(result.status, 2);
    EXPECT_EQ(result.err, "/nonexistent/compose.yaml: error: cannot read: No such file or directory\n");
    EXPECT_EQ(result.out, ok + ": ok (1 services, 1 port mappings)\n");  // the other file is still checked

    result = compose_check({bgtest::temp_dir()});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("error: cannot read: it is a directory"), std::string::npos) << result.err;

    // An error outweighs a report.
    result = compose_check({reported, empty});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.out.find("publishes tcp port 4000"), std::string::npos) << result.out;

    std::string bad_policy = bgtest::write_policy("version = 1\nmode = \"loud\"\n");
    result = compose_check({ok}, bad_policy);
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with(bad_policy + ":2:")) << result.err;
    EXPECT_EQ(result.out, "");

    result = clitest::bindguard({"compose-check", "--frobnicate", ok});
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("--frobnicate"), std::string::npos) << result.err;
}

TEST(CliComposeCheck, DashReadsStandardInput) {
    bgtest::Result result = bgtest::run({"sh", "-c",
                          "printf 'services:\\n  api:\\n    ports:\\n      - \"4000:4000\"\\n' | \"$0\" compose-check --policy \"$1\" -",
                          bgtest::cli_path(), bgtest::default_policy()});
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_EQ(result.out, "<stdin>:4:9: service \"api\": \"4000:4000\" publishes tcp port 4000 on every host address (0.0.0.0 and "
                          "::); fix: write \"127.0.0.1:4000:4000\"\n"
                          "<stdin>: 1 reported (1 services, 1 port mappings)\n");

    result = bgtest::run({"sh", "-c", "printf 'services: [' | \"$0\" compose-check --policy \"$1\" -", bgtest::cli_path(),
                          bgtest::default_policy()});
    EXPECT_EQ(result.status, 2);
    EXPECT_TRUE(result.err.starts_with("<stdin>:1:")) << result.err;
}

// Without FILE: the file Compose itself would use in the current directory, and its override.
TEST(CliComposeCheck, DefaultFileLookup) {
    auto check_in = [](const std::string& dir) {
        return bgtest::run({"sh", "-c", "cd \"$0\" && exec \"$1\" compose-check --policy \"$2\"", dir, bgtest::cli_path(),
                            bgtest::default_policy()});
    };
    std::string dir = bgtest::temp_dir();
    bgtest::Result result = check_in(dir);
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.err.find("no Compose file in the current directory (looked for compose.yaml, compose.yml, "
                              "docker-compose.yaml, docker-compose.yml)"),
              std::string::npos)
        << result.err;

    bgtest::write_file(dir + "/docker-compose.yml", "services:\n  api:\n    ports: [\"4000:4000\"]\n");
    result = check_in(dir);
    EXPECT_EQ(result.status, 1) << result.err;
    EXPECT_TRUE(result.out.starts_with("docker-compose.yml:3:13: service \"api\"")) << result.out;
    EXPECT_EQ(result.err, "");

    bgtest::write_file(dir + "/docker-compose.yaml", "services:\n  api:\n    ports: [\"127.0.0.1:4000:4000\"]\n");
    result = check_in(dir);
    EXPECT_EQ(result.status, 0) << result.out;
    EXPECT_EQ(result.out, "docker-compose.yaml: ok (1 services, 1 port mappings)\n");
    EXPECT_EQ(result.err, "bindguard compose-check: warning: found docker-compose.yaml docker-compose.yml; checking "
                          "docker-compose.yaml, the one Compose uses\n");

    bgtest::write_file(dir + "/compose.yml", "services:\n  web:\n    ports: [\"127.0.0.1:3000:3000\"]\n");
    bgtest::write_file(dir + "/compose.yaml", "services:\n  web:\n    ports: [\"127.0.0.1:3001:3001\"]\n");
    bgtest::write_file(dir + "/compose.override.yml", "services:\n  web:\n    ports: [\"3002:3002\"]\n");
    result = check_in(dir);
    EXPECT_EQ(result.status, 1);
    EXPECT_EQ(result.out, "compose.yaml: ok (1 services, 1 port mappings)\n"
                          "compose.override.yml:3:13: service \"web\": \"3002:3002\" publishes tcp port 3002 on every host "
                          "address (0.0.0.0 and ::); fix: write \"127.0.0.1:3002:3002\"\n"
                          "compose.override.yml: 1 reported (1 services, 1 port mappings)\n");
}

TEST(CliComposeCheck, JsonDocument) {
    std::string path = compose_file("services:\n  api:\n    ports: [\"127.0.0.1:4000:4000\", \"4001:4001/udp\"]\n");
    bgtest::Result result = compose_check({"--json", path});
    EXPECT_EQ(result.status, 1);
    nlohmann::json document = nlohmann::json::parse(result.out, nullptr, false);
    ASSERT_FALSE(document.is_discarded()) << result.out;
    EXPECT_EQ(document["policy"], bgtest::default_policy());
    EXPECT_EQ(document["reported"], 1);
    EXPECT_EQ(document["errors"], nlohmann::json::array());
    EXPECT_EQ(document["warnings"], nlohmann::json::array());
    EXPECT_EQ(document["files"], nlohmann::json::parse("[{\"file\": \"" + path + "\", \"services\": [\"api\"], \"valid\": true}]"));
    ASSERT_EQ(document["mappings"].size(), 2u);
    nlohmann::json expected = {
        {"file", path}, {"line", 3}, {"column", 36}, {"service", "api"}, {"syntax", "short"},
        {"mapping", "4001:4001/udp"}, {"host_address", nullptr}, {"published", "4001"}, {"target", "4001"}, {"protocol", "udp"},
        {"verdict", "exposed"}, {"reported", true}, {"rule", "default"},
        {"reason", "publishes udp port 4001 on every host address (0.0.0.0 and ::)"},
        {"fix", "write \"127.0.0.1:4001:4001/udp\""}};
    EXPECT_EQ(document["mappings"][1], expected);
    EXPECT_EQ(document["mappings"][0]["verdict"], "ok");
    EXPECT_EQ(document["mappings"][0]["rule"], nullptr);

    std::string bad = compose_file("services: [\n");
    result = compose_check({"--json", bad});
    EXPECT_EQ(result.status, 2);
    document = nlohmann::json::parse(result.out, nullptr, false);
    ASSERT_FALSE(document.is_discarded()) << result.out;
    ASSERT_EQ(document["errors"].size(), 1u);
    EXPECT_EQ(document["errors"][0]["file"], bad);
    EXPECT_EQ(document["errors"][0]["line"], 2);
}

}  // namespace
