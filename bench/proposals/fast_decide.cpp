#include "fast_decide.hpp"

#include <algorithm>
#include <cstring>
#include <map>

namespace proto {
namespace {

inline std::uint64_t load_be64(const std::uint8_t* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

Addr128 mask_v4(unsigned prefix) {
    return {0, prefix == 0 ? 0 : (0xffffffffull << (32 - prefix)) & 0xffffffffull};
}
Addr128 mask_v6(unsigned prefix) {
    Addr128 m;
    m.hi = prefix == 0 ? 0 : prefix >= 64 ? ~0ull : ~0ull << (64 - prefix);
    m.lo = prefix <= 64 ? 0 : prefix == 128 ? ~0ull : ~0ull << (128 - prefix);
    return m;
}
inline Addr128 apply(const Addr128& a, const Addr128& m) noexcept { return {a.hi & m.hi, a.lo & m.lo}; }

inline std::uint64_t hash(const Addr128& k) noexcept {
    // Masked keys have zero low bits: fold the well-mixed high bits down.
    const std::uint64_t h = (k.hi * 0x9E3779B97F4A7C15ull) ^ (k.lo * 0xC2B2AE3D27D4EB4Full);
    return h ^ (h >> 29) ^ (h >> 47);
}

// Builds one table from (key -> rule indices).
PrefixTable build_table(unsigned prefix, const Addr128& mask, const std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<std::uint32_t>>& entries) {
    PrefixTable t;
    t.prefix = prefix;
    t.mask = mask;
    std::size_t size = 4;
    while (size < entries.size() * 2) size *= 2;
    t.keys.assign(size, {});
    t.slot_begin.assign(size, 0);
    t.slot_end.assign(size, 0);
    for (const auto& [key_pair, rules] : entries) {
        Addr128 key{key_pair.first, key_pair.second};
        std::size_t slot = hash(key) & (size - 1);
        while (t.slot_end[slot] != 0) slot = (slot + 1) & (size - 1);
        t.keys[slot] = key;
        t.slot_begin[slot] = static_cast<std::uint32_t>(t.rule_lists.size());
        for (auto r : rules) {
            t.rule_lists.push_back(r);
            t.min_rule = std::min(t.min_rule, r);
        }
        t.slot_end[slot] = static_cast<std::uint32_t>(t.rule_lists.size());
    }
    return t;
}

inline std::uint8_t protocol_bit(Protocol p) noexcept {
    return p == Protocol::tcp ? 1 : p == Protocol::udp ? 2 : 4;
}

inline bool rule_ok(const CompiledPolicy& c, std::uint32_t index, std::uint8_t proto_bit, std::uint16_t port) noexcept {
    const FlatRule& r = c.rules[index];
    if (!(r.protocol_mask & proto_bit)) return false;
    if (r.port_begin == r.port_end) return true;
    for (std::uint32_t i = r.port_begin; i < r.port_end; ++i)
        if (c.ports[i].first <= port && port <= c.ports[i].last) return true;
    return false;
}

// Lowers best to the first rule of table t that matches (key already known).
inline void probe(const CompiledPolicy& c, const PrefixTable& t, const Addr128& address, std::uint8_t proto_bit,
                  std::uint16_t port, std::uint32_t& best) noexcept {
    if (t.min_rule >= best) return;
    const Addr128 key = apply(address, t.mask);
    const std::size_t size_mask = t.keys.size() - 1;
    for (std::size_t slot = hash(key) & size_mask; t.slot_end[slot] != 0; slot = (slot + 1) & size_mask) {
        if (!(t.keys[slot] == key)) continue;
        for (std::uint32_t i = t.slot_begin[slot]; i < t.slot_end[slot]; ++i) {
            const std::uint32_t rule = t.rule_lists[i];
            if (rule >= best) return;
            if (rule_ok(c, rule, proto_bit, port)) {
                best = rule;
                return;
            }
        }
        return;
    }
}

inline Decision make(const CompiledPolicy& c, const Request& request, Action action, const char* name,
                     bool v4, bool mapped, bool wildcard) noexcept {
    Decision d{action, request.address, name};
    if (action == Action::rewrite) {
        const Policy& p = *c.policy;
        if (request.address.family == AF_INET) {
            d.address = p.loopback_ipv4;
        } else {
            const bool to_mapped = mapped || (!request.v6only && wildcard && !v4 &&
                                              p.dual_stack == bindguard::DualStack::ipv4);
            d.address = to_mapped ? c.mapped_loopback : p.loopback_ipv6;
        }
        d.address.port = request.address.port;
        d.address.scope_id = 0;
        if (d.address == request.address) d.action = Action::allow;  // a rewrite onto itself
    }
    return d;
}

}  // namespace

CompiledPolicy compile(const Policy& policy) {
    CompiledPolicy c;
    c.policy = &policy;
    std::map<unsigned, std::map<std::pair<std::uint64_t, std::uint64_t>, std::vector<std::uint32_t>>> v4, v6;
    for (std::uint32_t i = 0; i < policy.rules.size(); ++i) {
        const auto& rule = policy.rules[i];
        FlatRule flat{};
        flat.protocol_mask = rule.protocol == Protocol::tcp ? 1 : rule.protocol == Protocol::udp ? 2 : 7;
        flat.action = rule.action;
        flat.name = rule.name.c_str();
        flat.port_begin = static_cast<std::uint32_t>(c.ports.size());
        for (const auto& range : rule.ports) c.ports.push_back({range.first, range.last});
        flat.port_end = static_cast<std::uint32_t>(c.ports.size());
        c.rules.push_back(flat);
        if (rule.addresses.empty()) {
            c.any_address_rules.push_back(i);
            continue;
        }
        for (const auto& cidr : rule.addresses) {
            if (cidr.family == AF_INET) {
                const Addr128 key = apply({0, load_be32(cidr.bytes.data())}, mask_v4(cidr.prefix));
                auto& list = v4[cidr.prefix][{key.hi, key.lo}];
                if (list.empty() || list.back() != i) list.push_back(i);
            } else {
                const Addr128 key = apply({load_be64(cidr.bytes.data()), load_be64(cidr.bytes.data() + 8)},
                                          mask_v6(cidr.prefix));
                auto& list = v6[cidr.prefix][{key.hi, key.lo}];
                if (list.empty() || list.back() != i) list.push_back(i);
            }
        }
    }
    for (const auto& [prefix, entries] : v4) c.v4_tables.push_back(build_table(prefix, mask_v4(prefix), entries));
    for (const auto& [prefix, entries] : v6) c.v6_tables.push_back(build_table(prefix, mask_v6(prefix), entries));
    // Tables whose rules come first are probed first, so that later probes stop early.
    auto by_min = [](const PrefixTable& a, const PrefixTable& b) { return a.min_rule < b.min_rule; };
    std::sort(c.v4_tables.begin(), c.v4_tables.end(), by_min);
    std::sort(c.v6_tables.begin(), c.v6_tables.end(), by_min);
    c.mapped_loopback = policy.loopback_ipv6;
    c.mapped_loopback.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::memcpy(c.mapped_loopback.bytes.data() + 12, policy.loopback_ipv4.bytes.data(), 4);
    c.mapped_loopback.port = 0;
    c.mapped_loopback.scope_id = 0;
    return c;
}

Decision decide_fast(const CompiledPolicy& c, const Request& request) noexcept {
    const Endpoint& ep = request.address;
    const std::uint16_t port = ep.port;
    const std::uint8_t proto_bit = protocol_bit(request.protocol);
    const bool v6 = ep.family == AF_INET6;
    const std::uint64_t hi = v6 ? load_be64(ep.bytes.data()) : 0;
    const std::uint64_t lo = v6 ? load_be64(ep.bytes.data() + 8) : 0;
    const bool mapped = v6 && hi == 0 && (lo >> 32) == 0xffff;
    const bool has_v4 = !v6 || mapped;
    const std::uint32_t ipv4 = v6 ? static_cast<std::uint32_t>(lo) : load_be32(ep.bytes.data());

    std::uint32_t best = UINT32_MAX;
    for (const std::uint32_t rule : c.any_address_rules)
        if (rule_ok(c, rule, proto_bit, port)) {
            best = rule;
            break;
        }
    if (has_v4)
        for (const auto& t : c.v4_tables) probe(c, t, {0, ipv4}, proto_bit, port, best);
    if (v6)
        for (const auto& t : c.v6_tables) probe(c, t, {hi, lo}, proto_bit, port, best);

    const bool wildcard = has_v4 ? ipv4 == 0 : (hi == 0 && lo == 0);
    if (best != UINT32_MAX)
        return make(c, request, c.rules[best].action, c.rules[best].name, !v6, mapped, wildcard);
    const bool loopback = has_v4 ? (ipv4 >> 24) == 127 : (hi == 0 && lo == 1);
    if (loopback) return make(c, request, Action::allow, "loopback", !v6, mapped, wildcard);
    if (request.protocol == Protocol::udp && port == 0 && wildcard &&
        c.policy->udp_ephemeral == bindguard::UdpEphemeral::allow)
        return make(c, request, Action::allow, "udp-ephemeral", !v6, mapped, wildcard);
    return make(c, request, c.policy->default_action, "default", !v6, mapped, wildcard);
}

}  // namespace proto
