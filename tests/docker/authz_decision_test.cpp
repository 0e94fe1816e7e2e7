// docker::decide_request(): the plugin's answer to AuthZReq bodies as dockerd sends them
// (the request's method, URI and base64 JSON body), without a daemon.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "bindguard/policy.hpp"
#include "docker_authz_decision.hpp"
#include "support/base64.hpp"

using bindguard::Policy;
using bindguard::cli::docker::AuthzDecision;
using bindguard::cli::docker::decide_request;

namespace {

using bgtest::base64;

// The AuthZReq of `POST uri` with body (JSON text). Returns it.
std::string request(const std::string& uri, const std::string& body, const std::string& method = "POST") {
    nlohmann::json json = {{"User", ""}, {"RequestMethod", method}, {"RequestUri", uri}, {"RequestHeaders", nlohmann::json::object()}};
    if (!body.empty()) json["RequestBody"] = base64(body);
    return json.dump();
}

Policy policy_of(const std::string& text) {
    bindguard::LoadResult loaded = bindguard::parse_policy(text, "test.toml");
    EXPECT_TRUE(loaded.ok());
    return loaded.ok() ? *loaded.policy : Policy{};
}

const Policy& builtin() {
    static const Policy policy = bindguard::builtin_policy();
    return policy;
}

AuthzDecision create(const std::string& host_config, const std::string& name = "web", const std::string& extra = "") {
    return decide_request(builtin(), request("/v1.41/containers/create?name=" + name,
                                             "{\"Image\":\"x\"" + extra + ",\"HostConfig\":" + host_config + "}"));
}

}  // namespace

TEST(DockerAuthzDecision, EveryPublicBindingIsDeniedWithTheFix) {
    AuthzDecision every = create(R"({"PortBindings":{"3100/tcp":[{"HostIp":"","HostPort":"3100"}]}})");
    EXPECT_FALSE(every.allow);
    EXPECT_EQ(every.message, "container \"web\": -p 3100:3100 publishes tcp port 3100 on every host address (0.0.0.0 and ::); "
                             "fix: -p 127.0.0.1:3100:3100 (Compose: \"127.0.0.1:3100:3100\").");
    EXPECT_EQ(every.service, "web");
    EXPECT_EQ(every.rule, "default");
    AuthzDecision random = create(R"({"PortBindings":{"53/udp":[{"HostIp":"0.0.0.0","HostPort":""}]}})");
    EXPECT_EQ(random.message, "container \"web\": -p 0.0.0.0::53/udp publishes udp container port 53 on a random port of "
                              "0.0.0.0, every IPv4 address of the host; fix: -p 127.0.0.1::53/udp (Compose: \"127.0.0.1::53/udp\").");
    AuthzDecision range = create(R"({"PortBindings":{"80/tcp":[{"HostIp":"[::]","HostPort":"8000-8010"}]}})");
    EXPECT_NE(range.message.find("-p [::]:8000-8010:80 publishes tcp ports 8000-8010 on ::, every IPv6 address"), std::string::npos)
        << range.message;
    // Two findings in one message.
    AuthzDecision two = create(R"({"PortBindings":{"80/tcp":[{"HostPort":"80"}],"443/tcp":[{"HostIp":"127.0.0.1","HostPort":"443"},{"HostIp":"10.0.0.5","HostPort":"443"}]}})");
    EXPECT_NE(two.message.find("container \"web\": -p 10.0.0.5:443:443 publishes tcp port 443 on 10.0.0.5, which is not loopback"),
              std::string::npos) << two.message;
    EXPECT_NE(two.message.find(". Also: -p 80:80 publishes"), std::string::npos) << two.message;
}

TEST(DockerAuthzDecision, LoopbackAndNoPublishPass) {
    EXPECT_TRUE(create(R"({"PortBindings":{"3100/tcp":[{"HostIp":"127.0.0.1","HostPort":"3100"}]}})").allow);
    EXPECT_TRUE(create(R"({"PortBindings":{"3100/tcp":[{"HostIp":"::1","HostPort":"3100"}]}})").allow);
    EXPECT_TRUE(create(R"({"NetworkMode":"bridge","PublishAllPorts":false})").allow);
    EXPECT_TRUE(create(R"({"PortBindings":{}})").allow);
    // Requests that publish nothing are not judged at all.
    for (const char* uri : {"/v1.41/containers/json", "/v1.41/images/create?fromSrc=-", "/_ping", "/v1.41/containers/web/stop"})
        EXPECT_TRUE(decide_request(builtin(), request(uri, "")).allow) << uri;
    EXPECT_TRUE(decide_request(builtin(), request("/v1.41/containers/json", "", "GET")).allow);
}

TEST(DockerAuthzDecision, PublishAllAndHostNetworkAreDenied) {
    AuthzDecision all = create(R"({"PublishAllPorts":true})", "web", R"(,"ExposedPorts":{"8080/tcp":{}})");
    EXPECT_FALSE(all.allow);
    EXPECT_NE(all.message.find("-P publishes every port the container exposes (8080/tcp and the image's)"), std::string::npos);
    EXPECT_NE(all.message.find("e.g. -p 127.0.0.1:8080:8080"), std::string::npos) << all.message;
    AuthzDecision host = create(R"({"NetworkMode":"host"})");
    EXPECT_FALSE(host.allow);
    EXPECT_NE(host.message.find("--network host shares the host's network"), std::string::npos) << host.message;
    EXPECT_NE(host.message.find("Compose: remove network_mode: host"), std::string::npos) << host.message;
}

TEST(DockerAuthzDecision, AnAllowRuleForTheServiceAllowsIt) {
    Policy policy = policy_of("version = 1\n[[rule]]\nname = \"ledger\"\naction = \"allow\"\nservice = \"ledger\"\nport = [3300]\n");
    auto body = [](const std::string& labels, const std::string& port) {
        return "{\"Labels\":" + labels + ",\"HostConfig\":{\"PortBindings\":{\"3300/tcp\":[{\"HostPort\":\"" + port + "\"}]}}}";
    };
    AuthzDecision labelled = decide_request(policy, request("/containers/create?name=books_ledger_1",
                                                            body(R"({"com.docker.compose.service":"ledger"})", "3300")));
    EXPECT_TRUE(labelled.allow) << labelled.message;
    EXPECT_EQ(labelled.service, "ledger");
    EXPECT_EQ(labelled.rule, "ledger");
    EXPECT_TRUE(decide_request(policy, request("/containers/create?name=ledger", body("{}", "3300"))).allow);
    AuthzDecision other_port = decide_request(policy, request("/containers/create?name=ledger", body("{}", "3301")));
    EXPECT_FALSE(other_port.allow);
    AuthzDecision other_service = decide_request(policy, request("/containers/create?name=books_web_1",
                                                                 body(R"({"com.docker.compose.service":"web"})", "3300")));
    EXPECT_FALSE(other_service.allow);
    EXPECT_NE(other_service.message.find("container \"books_web_1\" (Compose service \"web\"): -p 3300:3300"), std::string::npos)
        << other_service.message;
    // A rule with no port or address filter for the service allows even -P and --network host.
    Policy everything = policy_of("version = 1\n[[rule]]\nname = \"lab\"\naction = \"allow\"\nservice = \"lab\"\n");
    EXPECT_TRUE(decide_request(everything, request("/containers/create?name=lab", R"({"HostConfig":{"NetworkMode":"host"}})")).allow);
    // Audit mode is the server's business: the decision still says what is wrong.
    EXPECT_FALSE(decide_request(policy_of("version = 1\nmode = \"audit\"\n"),
                                request("/containers/create", R"({"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"80"}]}}})"))
                     .allow);
}

TEST(DockerAuthzDecision, KeysAreMatchedAsDockerdMatchesThem) {
    // dockerd's JSON decoding ignores the case of member names: so does the plugin.
    AuthzDecision lower = decide_request(builtin(), request("/v1.41/containers/create",
                                                            R"({"hostconfig":{"portbindings":{"80/tcp":[{"hostport":"80"}]}}})"));
    EXPECT_FALSE(lower.allow);
    // dockerd routes by the decoded path.
    AuthzDecision encoded = decide_request(builtin(), request("/v1.41/containers/cr%65ate?name=web",
                                                              R"({"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"80"}]}}})"));
    EXPECT_FALSE(encoded.allow);
    EXPECT_NE(encoded.message.find("container \"web\": -p 80:80"), std::string::npos) << encoded.message;
    AuthzDecision twice = decide_request(builtin(), request("/containers/create", R"({"HostConfig":{},"hostConfig":{"NetworkMode":"host"}})"));
    EXPECT_FALSE(twice.allow);
    EXPECT_NE(twice.message.find("cannot check this request"), std::string::npos) << twice.message;
}

TEST(DockerAuthzDecision, LegacyStartAndSwarmServicesAreJudged) {
    AuthzDecision start = decide_request(builtin(), request("/v1.23/containers/abc/start", R"({"PortBindings":{"80/tcp":[{"HostPort":"80"}]}})"));
    EXPECT_FALSE(start.allow);
    EXPECT_NE(start.message.find("container \"abc\": -p 80:80"), std::string::npos) << start.message;
    EXPECT_TRUE(decide_request(builtin(), request("/v1.41/containers/abc/start", "")).allow);
    AuthzDecision service = decide_request(
        builtin(), request("/v1.41/services/create", R"({"Name":"api","EndpointSpec":{"Ports":[{"TargetPort":80,"PublishedPort":8080,"Protocol":"tcp"}]}})"));
    EXPECT_FALSE(service.allow);
    EXPECT_NE(service.message.find("container \"api\": the swarm service publishes tcp port 8080"), std::string::npos) << service.message;
    EXPECT_TRUE(decide_request(builtin(), request("/v1.41/services/create", R"({"Name":"api"})")).allow);
}

TEST(DockerAuthzDecision, WhatCannotBeReadIsDeniedWithTheReason) {
    auto denied = [](const std::string& body_json, const std::string& reason) {
        AuthzDecision decision = decide_request(builtin(), body_json);
        EXPECT_FALSE(decision.allow) << body_json;
        EXPECT_TRUE(decision.message.starts_with("cannot check this request, so it is refused: ")) << decision.message;
        EXPECT_NE(decision.message.find(reason), std::string::npos) << decision.message;
    };
    denied("not json", "the authorization request is not JSON");
    denied("[]", "the request is not a JSON object");
    denied(R"({"RequestMethod":"POST"})", "the authorization request names no RequestMethod or RequestUri");
    denied(R"({"RequestMethod":"POST","RequestUri":"/containers/create"})", "POST /containers/create without a body");
    denied(R"({"RequestMethod":"POST","RequestUri":"/containers/create","RequestBody":"%%%"})", "RequestBody is not base64");
    denied(request("/containers/create", "{\"HostConfig\":"), "POST /containers/create has a body that is not JSON");
    denied(request("/containers/create", R"({"HostConfig":{"PortBindings":{"80/tcp":[{"HostIp":"localhost","HostPort":"80"}]}}})"),
           "HostConfig.PortBindings[\"80/tcp\"] has HostIp \"localhost\", which is not an IP address");
    denied(request("/containers/create", R"({"HostConfig":{"PortBindings":{"80/tcp":[{"HostPort":"http"}]}}})"),
           "has HostPort \"http\", which is not a port");
    denied(request("/containers/create", R"({"HostConfig":{"PortBindings":{"80/icmp":[{"HostPort":"80"}]}}})"),
           "whose protocol is not tcp, udp or sctp");
    denied(request("/containers/create", R"({"HostConfig":{"PublishAllPorts":"yes"}})"), "HostConfig.PublishAllPorts is not true or false");
    denied(request("/containers/create", R"({"HostConfig":[]})"), "HostConfig is not a JSON object");
}
