// Internal to the policy library (in include/ because image_view.hpp holds one).
#pragma once

#include "bindguard/policy.hpp"

namespace bindguard::detail {

// What a decision needs of a policy besides its rules: the same for a parsed Policy
// (decide()) and a compiled image (image::ProcessPolicy), so both answer alike.
struct DecisionSettings {
    Endpoint loopback_ipv4;
    Endpoint loopback_ipv6;
    DualStack dual_stack = DualStack::ipv4;
    UdpEphemeral udp_ephemeral = UdpEphemeral::allow;
    Action default_action = Action::rewrite;
};

}  // namespace bindguard::detail
