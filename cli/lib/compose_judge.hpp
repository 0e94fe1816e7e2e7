// The one judgement of a port Docker publishes on the host, used by `compose-check` (a
// mapping in a Compose file, before `up`) and `docker authz` (a container being created):
// a publish on loopback is fine; any other is allowed only when the policy allows the
// service to bind every host address, protocol and port it publishes on.
#pragma once

#include <string>
#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::cli {

struct PublishJudgement {
    enum class Verdict { ok, allowed, exposed };
    Verdict verdict = Verdict::ok;
    std::string rule;   // allowed/exposed: the rule of the policy that decided
    std::string where;  // exposed: "every host address (0.0.0.0 and ::)", "0.0.0.0, every IPv4
                        // address of the host", "198.51.100.7, which is not loopback"
};

// Judges a publish on host_ip ("" when none is given: Docker publishes on every address;
// else a literal address, IPv6 without brackets) for protocols and the host ports, with
// service as the request's service (a Compose service or a container name; "" for none).
// Returns the judgement; host_ip must be "" or an address (is_host_address()).
PublishJudgement judge_publish(const Policy& policy, const std::string& service, const std::string& host_ip,
                               const std::vector<Protocol>& protocols, PortRange ports);

// True when text is an IPv4 or IPv6 address (without brackets or port).
bool is_host_address(const std::string& text);

// True when the policy lets service bind every port of every host address (0.0.0.0 and ::)
// for TCP and UDP - what a container on the host's network, or one that publishes all its
// exposed ports on ports Docker picks, can do. rule is set to the rule that decided.
// Returns the answer.
bool allowed_everything(const Policy& policy, const std::string& service, std::string& rule);

}  // namespace bindguard::cli
