// The parts of a decision shared by decide() on a parsed policy and by the compiled
// image's ProcessPolicy::decide() (internal.hpp). Freestanding: no allocation.
#include <cstring>

#include "internal.hpp"

namespace bindguard::detail {

Endpoint loopback_target(const DecisionSettings& settings, const Endpoint& requested, bool v6only) noexcept {
    Endpoint target;
    if (requested.family == AF_INET) {
        target = settings.loopback_ipv4;
    } else {
        const bool to_mapped_ipv4 =
            is_v4_mapped(requested) ||
            (!v6only && is_wildcard(requested) && settings.dual_stack == DualStack::ipv4);
        target = settings.loopback_ipv6;
        if (to_mapped_ipv4) {
            target.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            std::memcpy(target.bytes.data() + 12, settings.loopback_ipv4.bytes.data(), 4);
        }
    }
    target.port = requested.port;
    target.scope_id = 0;
    return target;
}

Decision rule_decision(const DecisionSettings& settings, const Request& request, Action action,
                       const char* name) noexcept {
    Decision decision{action, request.address, name};
    if (action == Action::rewrite) {
        decision.address = loopback_target(settings, request.address, request.v6only);
        if (decision.address == request.address) decision.action = Action::allow;
    }
    return decision;
}

Decision decision_without_rule(const DecisionSettings& settings, const Request& request) noexcept {
    if (is_loopback(request.address)) return rule_decision(settings, request, Action::allow, "loopback");
    if (request.protocol == Protocol::udp && request.address.port == 0 && is_wildcard(request.address) &&
        settings.udp_ephemeral == UdpEphemeral::allow)
        return rule_decision(settings, request, Action::allow, "udp-ephemeral");
    return rule_decision(settings, request, settings.default_action, "default");
}

}  // namespace bindguard::detail
