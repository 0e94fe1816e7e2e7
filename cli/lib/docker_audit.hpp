// What `bindguard audit` learns from the Docker Engine API: the running containers and the
// ports each publishes on the host (GET /containers/json on the unix socket named by
// DOCKER_HOST, default /var/run/docker.sock, with libcurl), each judged as compose-check
// and `docker authz` judge a publish: by the address Docker publishes on (the reach of its
// packet rules), never by where docker-proxy's socket ended up.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::cli {

struct DockerPublish {
    std::string container;        // its name, without the leading '/'
    std::string image;
    std::string compose_project;  // the com.docker.compose.project label ("" when none)
    std::string compose_service;  // the com.docker.compose.service label ("" when none)
    std::string proto;            // "tcp", "udp", "sctp"
    std::string host_ip;          // as Docker reports it: "0.0.0.0", "::", "127.0.0.1"
    std::uint16_t host_port = 0;
    std::uint16_t container_port = 0;
    bool host_network = false;    // a --network host container (no port: it shares the host's)

    std::string verdict;  // ok | allowed | exposed | host-network
    std::string rule;     // allowed/exposed/host-network: the rule of the policy that decided
    std::string reason;   // for a reported one: what is published where
    std::string fix;      // for a reported one: what to publish instead

    bool reported() const { return verdict == "exposed" || verdict == "host-network"; }
    // The policy's service for it: the Compose service, else the container's name.
    const std::string& service() const { return compose_service.empty() ? container : compose_service; }
};

struct DockerState {
    std::string socket;                  // the Engine API socket that was asked
    std::vector<DockerPublish> publishes;  // in the order Docker lists them; host-network containers too
};

// Asks Docker, when its socket is there: DOCKER_HOST (unix://PATH; another scheme is not
// read, and a note says so), else /var/run/docker.sock. Returns nullopt when there is no
// such socket (nothing about Docker, no error), or when the daemon serving it runs in another
// network namespace than audit (a note says so); throws std::runtime_error when the socket
// is there but the API cannot be read.
std::optional<DockerState> read_docker();

// Judges every publish with policy (the verdict, rule, reason and fix fields). Returns nothing.
void judge_docker(DockerState& state, const Policy& policy);

// True when program (a resolved path) is dockerd or docker-proxy, which hold a publish's socket.
bool is_docker_publisher(const std::string& program);

}  // namespace bindguard::cli
