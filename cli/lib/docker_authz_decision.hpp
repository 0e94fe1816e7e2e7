// What `bindguard docker authz` answers to one request of Docker's authorization plugin
// protocol (AuthZPlugin.AuthZReq): a request that would publish a container's port on a
// host address the policy does not allow is denied, with a message naming the container,
// the port and the fix; everything else passes. Pure: no I/O.
#pragma once

#include <string>
#include <string_view>

#include "bindguard/policy.hpp"

namespace bindguard::cli::docker {

struct AuthzDecision {
    bool allow = true;
    std::string message;    // for a denial: what dockerd prints after "authorization denied by plugin bindguard: "
    std::string request;    // "POST /v1.41/containers/create?name=web" ("" when unreadable)
    std::string container;  // the container's (or swarm service's) name; "" when none is given
    std::string service;    // the service the policy was asked about ("" when none)
    std::string rule;       // the rule that decided a publish ("" when no publish was judged)
    bool judged = false;    // true when the request publishes something that was judged
};

// Decides the AuthZReq whose JSON body is request_json (its RequestMethod, RequestUri and
// base64 RequestBody). Judged: POST /containers/create (HostConfig.PortBindings,
// PublishAllPorts, NetworkMode "host"), the HostConfig of a legacy POST
// /containers/ID/start, and the published ports of POST /services/create and
// /services/ID/update (swarm publishes on every address of every node). The policy's
// service is the com.docker.compose.service label, else the container's name. A body that
// cannot be read is denied with the reason. Never throws but std::bad_alloc.
AuthzDecision decide_request(const Policy& policy, std::string_view request_json);

// The JSON answer to AuthZReq for decision: {"Allow": ..., "Msg": ...}. Returns it.
std::string authz_response(const AuthzDecision& decision);

}  // namespace bindguard::cli::docker
