// The parts of a decision shared by decide() on a parsed policy and by the compiled
// image's ProcessPolicy::decide() (internal.hpp). Freestanding: no allocation.
#include <cstdio>
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

namespace bindguard {

using namespace detail;

const char* to_string(Mode v) noexcept { return name_of<Mode>(kModeNames, v); }
const char* to_string(Action v) noexcept { return name_of<Action>(kActionNames, v); }
const char* to_string(Protocol v) noexcept {
    return v == Protocol::other ? "other" : name_of<Protocol>(kRuleProtocolNames, v);
}
const char* to_string(LogLevel v) noexcept { return name_of<LogLevel>(kLogLevelNames, v); }

std::size_t describe(const Request& request, const Decision& decision, bool audit, char* buf,
                     std::size_t size) noexcept {
    if (size == 0) return 0;
    char from[64];
    format_endpoint(request.address, from, sizeof from);
    char to[64] = "EACCES";
    if (decision.action == Action::rewrite) format_endpoint(decision.address, to, sizeof to);
    const char* prefix = audit && decision.action != Action::allow ? "would-" : "";
    const char* verb = to_string(decision.action);
    const char* proto = to_string(request.protocol);
    const int n = decision.action == Action::allow
                      ? std::snprintf(buf, size, "allow %s %s", proto, from)
                      : std::snprintf(buf, size, "%s%s %s %s -> %s", prefix, verb, proto, from, to);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return static_cast<std::size_t>(n) < size ? static_cast<std::size_t>(n) : size - 1;
}

}  // namespace bindguard
