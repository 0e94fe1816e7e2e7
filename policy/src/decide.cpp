// decide() on a parsed policy and what surrounds it: loopback_for() and for_process()
// (to_string() and describe() are in decision_core.cpp, which the library runs too).
// Nothing here allocates except for_process().
// decide() is a scan of the rules, started where the compiled index (rule_index.hpp) says.
#include <fnmatch.h>

#include <cstdio>
#include <cstring>

#include "bindguard/policy.hpp"
#include "internal.hpp"
#include "rule_index.hpp"

namespace bindguard {

using namespace detail;

bool detail::glob_matches(const char* pattern, std::string_view subject) noexcept {
    char buf[kMaxGlobSubject];
    if (subject.size() >= sizeof buf) return false;
    std::memcpy(buf, subject.data(), subject.size());
    buf[subject.size()] = '\0';
    return fnmatch(pattern, buf, 0) == 0;
}

namespace {

// True when the optional glob filter is unset or matches subject.
bool glob_filter_matches(const std::optional<std::string>& pattern, std::string_view subject) noexcept {
    return !pattern || glob_matches(pattern->c_str(), subject);
}

// True when the optional equality filter is unset or equals subject.
bool equal_filter_matches(const std::optional<std::string>& expected, std::string_view subject) noexcept {
    return !expected || *expected == subject;
}

// True when every filter that rule sets matches the request.
bool rule_matches(const Rule& rule, const Request& request) noexcept {
    if (!protocol_matches(rule.protocol, request.protocol)) return false;
    if (!rule.addresses.empty()) {
        bool any = false;
        for (const auto& cidr : rule.addresses) any = any || cidr.contains(request.address);
        if (!any) return false;
    }
    if (!port_matches(rule.ports.data(), rule.ports.size(), request.address.port)) return false;
    return equal_filter_matches(rule.service, request.service) &&
           glob_filter_matches(rule.program, request.program) &&
           glob_filter_matches(rule.command, request.command);
}

DecisionSettings settings_of(const Policy& policy) noexcept {
    return {policy.loopback_ipv4, policy.loopback_ipv6, policy.dual_stack, policy.udp_ephemeral,
            policy.default_action};
}

}  // namespace

Decision decide(const Policy& policy, const Request& request) noexcept {
    // The index names the first rule whose address, port and protocol match; no rule
    // before it can match, so the scan starts there (at the end when none matches).
    const auto& rules = policy.rules;
    const DecisionSettings settings = settings_of(policy);
    std::size_t first = 0;
    if (policy.index && policy.index->rule_count() == rules.size()) first = policy.index->first_candidate(request);
    for (std::size_t i = first; i < rules.size(); ++i)
        if (rule_matches(rules[i], request)) return rule_decision(settings, request, rules[i].action, rules[i].name.c_str());
    return decision_without_rule(settings, request);
}

bool rewrites_every_public_ipv4_bind(const Policy& policy) noexcept {
    // No rule can match first; the request is not loopback; with a port other than 0
    // the UDP-ephemeral clause cannot apply; the default rewrites to loopback_for(),
    // which for AF_INET is loopback_ipv4 (never the address asked for: that is not loopback).
    return policy.rules.empty() && policy.default_action == Action::rewrite;
}

Endpoint loopback_for(const Policy& policy, const Endpoint& requested, bool v6only) noexcept {
    return loopback_target(settings_of(policy), requested, v6only);
}

Policy for_process(const Policy& policy, std::string_view program, std::string_view command,
                   std::string_view service) {
    // Exact, unlike decide(): the subjects are copied to NUL-terminated strings of any length.
    const std::string program_text(program), command_text(command);
    const auto glob_ok = [](const std::optional<std::string>& pattern, const std::string& subject) {
        return !pattern || fnmatch(pattern->c_str(), subject.c_str(), 0) == 0;
    };
    Policy result = policy;
    result.rules.clear();
    for (const auto& rule : policy.rules) {
        if (!equal_filter_matches(rule.service, service) || !glob_ok(rule.program, program_text) ||
            !glob_ok(rule.command, command_text))
            continue;
        Rule kept = rule;
        kept.program.reset();
        kept.command.reset();
        kept.service.reset();
        result.rules.push_back(std::move(kept));
    }
    index_rules(result);
    return result;
}

}  // namespace bindguard
