// The "rule can never match" warning: an earlier rule that matches everything a later
// one does makes the later one dead. The check is conservative: it only warns when a
// single earlier CIDR (port range) covers each CIDR (port range) of the later rule.
#include <algorithm>

#include "bindguard/policy.hpp"
#include "internal.hpp"

namespace bindguard::detail {
namespace {

// True when the earlier filter is unset, or set and equal to the later one.
bool filter_covers(const std::optional<std::string>& earlier, const std::optional<std::string>& later) {
    return !earlier || earlier == later;
}

// What an empty address list means: every IPv4 and IPv6 address.
const std::vector<Cidr>& every_address() {
    static const std::vector<Cidr> all = {Cidr{AF_INET, {}, 0}, Cidr{AF_INET6, {}, 0}};
    return all;
}

bool addresses_cover(const std::vector<Cidr>& earlier, const std::vector<Cidr>& later) {
    if (earlier.empty()) return true;
    const auto& wanted = later.empty() ? every_address() : later;
    return std::all_of(wanted.begin(), wanted.end(), [&](const Cidr& one) {
        return std::any_of(earlier.begin(), earlier.end(), [&](const Cidr& big) { return big.covers(one); });
    });
}

bool ports_cover(const std::vector<PortRange>& earlier, const std::vector<PortRange>& later) {
    if (earlier.empty()) return true;
    static const std::vector<PortRange> every_port = {{0, 65535}};
    const auto& wanted = later.empty() ? every_port : later;
    return std::all_of(wanted.begin(), wanted.end(), [&](const PortRange& one) {
        return std::any_of(earlier.begin(), earlier.end(),
                           [&](const PortRange& big) { return big.first <= one.first && one.last <= big.last; });
    });
}

// True when every request that later matches is matched by earlier.
bool rule_covers(const Rule& earlier, const Rule& later) {
    return filter_covers(earlier.program, later.program) && filter_covers(earlier.command, later.command) &&
           filter_covers(earlier.service, later.service) &&
           (earlier.protocol == Protocol::any || earlier.protocol == later.protocol) &&
           addresses_cover(earlier.addresses, later.addresses) && ports_cover(earlier.ports, later.ports);
}

}  // namespace

void find_shadowed_rules(const std::vector<Rule>& rules, const std::string& file, std::vector<Diagnostic>& out) {
    for (auto later = rules.begin(); later != rules.end(); ++later) {
        const auto earlier = std::find_if(rules.begin(), later, [&](const Rule& r) { return rule_covers(r, *later); });
        if (earlier == later) continue;
        out.push_back({Diagnostic::Severity::warning, file, later->position,
                       "rule \"" + later->name + "\" can never match: rule \"" + earlier->name + "\" (line " +
                           std::to_string(earlier->position.line) + ") matches everything it does"});
    }
}

}  // namespace bindguard::detail
