// Building the compiled rule index (rule_index.hpp) and looking a request up in it.
#include "rule_index.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>

#include "internal.hpp"

namespace bindguard::detail {
namespace {

using U128 = Uint128;

constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Limits on the work of one build; past any of them the policy is scanned instead.
constexpr std::size_t kMaxMemberships = std::size_t{1} << 22;  // (interval, rule) pairs
constexpr std::size_t kMaxCells = std::size_t{1} << 22;        // table entries
constexpr std::size_t kMaxJoinSteps = std::size_t{1} << 26;    // membership tests filling the table

// The port dimension: each protocol of a request has its own 65536 keys.
constexpr std::uint32_t kPortsPerProtocol = 65536;
constexpr std::uint32_t kProtocolSegments = 3;  // tcp, udp, anything else

std::uint32_t protocol_segment(Protocol protocol) noexcept {
    switch (protocol) {
        case Protocol::tcp: return 0;
        case Protocol::udp: return 1;
        default: return 2;
    }
}

// An inclusive range of keys.
template <class Key>
struct Span {
    Key first;
    Key last;
};

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

U128 load_be128(const std::uint8_t* p) noexcept {
    U128 value = 0;
    for (int i = 0; i < 16; ++i) value = (value << 8) | p[i];
    return value;
}

// The keys of the `bits`-bit CIDR with the given base and prefix length.
template <class Key>
Span<Key> prefix_span(Key base, unsigned prefix) noexcept {
    constexpr unsigned kBits = sizeof(Key) * 8;
    const Key host_mask = prefix == 0 ? std::numeric_limits<Key>::max()
                                      : prefix >= kBits ? Key{0} : (Key{1} << (kBits - prefix)) - 1;
    return {static_cast<Key>(base & ~host_mask), static_cast<Key>(base | host_mask)};
}

template <class Key>
constexpr Span<Key> kWholeSpace{Key{0}, std::numeric_limits<Key>::max()};

// True when the first `bits` bits of a and b are equal.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, unsigned bits) noexcept {
    for (unsigned i = 0; i < bits; ++i) {
        const unsigned byte = i / 8, bit = 7 - i % 8;
        if (((a[byte] >> bit) & 1) != ((b[byte] >> bit) & 1)) return false;
    }
    return true;
}

// What one rule's address filter covers in each of the three address spaces.
struct AddressSpans {
    std::vector<Span<std::uint32_t>> ipv4, v4_mapped;
    std::vector<Span<U128>> ipv6;
};

// Cidr::contains() restated per space: an IPv4 CIDR matches AF_INET and v4-mapped
// requests; an IPv6 CIDR matches AF_INET6 requests only, so in the v4-mapped space it
// is either all of it (prefix <= 96 and a prefix of ::ffff:0:0/96), a part of it
// (prefix > 96 inside ::ffff:0:0/96), or nothing.
AddressSpans address_spans(const Rule& rule) {
    AddressSpans spans;
    if (rule.addresses.empty()) {
        spans.ipv4.push_back(kWholeSpace<std::uint32_t>);
        spans.v4_mapped.push_back(kWholeSpace<std::uint32_t>);
        spans.ipv6.push_back(kWholeSpace<U128>);
        return spans;
    }
    for (const Cidr& cidr : rule.addresses) {
        if (cidr.family == AF_INET) {
            const auto span = prefix_span<std::uint32_t>(load_be32(cidr.bytes.data()), cidr.prefix);
            spans.ipv4.push_back(span);
            spans.v4_mapped.push_back(span);
        } else if (cidr.family == AF_INET6) {
            spans.ipv6.push_back(prefix_span<U128>(load_be128(cidr.bytes.data()), cidr.prefix));
            if (cidr.prefix <= 96) {
                if (same_prefix(cidr.bytes.data(), kV4MappedPrefix, cidr.prefix))
                    spans.v4_mapped.push_back(kWholeSpace<std::uint32_t>);
            } else if (same_prefix(cidr.bytes.data(), kV4MappedPrefix, 96)) {
                spans.v4_mapped.push_back(
                    prefix_span<std::uint32_t>(load_be32(cidr.bytes.data() + 12), cidr.prefix - 96u));
            }
        }
    }
    return spans;
}

// What one rule's port and protocol filters cover, as keys protocol * 65536 + port.
std::vector<Span<std::uint32_t>> port_spans(const Rule& rule) {
    std::vector<Span<std::uint32_t>> spans;
    for (std::uint32_t segment = 0; segment < kProtocolSegments; ++segment) {
        const bool protocol_matches = rule.protocol == Protocol::any ||
                                      (rule.protocol == Protocol::tcp && segment == 0) ||
                                      (rule.protocol == Protocol::udp && segment == 1);
        if (!protocol_matches) continue;
        const std::uint32_t base = segment * kPortsPerProtocol;
        if (rule.ports.empty()) spans.push_back({base, base + kPortsPerProtocol - 1});
        for (const PortRange& range : rule.ports) spans.push_back({base + range.first, base + range.last});
    }
    return spans;
}

// Distinct sets of rules (sorted rule positions), each with its class number.
class ClassTable {
public:
    std::uint32_t intern(std::vector<std::uint32_t>&& members) {
        const auto [it, added] = ids_.try_emplace(std::move(members), static_cast<std::uint32_t>(sets_.size()));
        if (added) sets_.push_back(&it->first);
        return it->second;
    }
    std::size_t size() const noexcept { return sets_.size(); }
    const std::vector<std::uint32_t>& members(std::size_t id) const noexcept { return *sets_[id]; }

private:
    std::map<std::vector<std::uint32_t>, std::uint32_t> ids_;
    std::vector<const std::vector<std::uint32_t>*> sets_;
};

// Fills map with the elementary intervals of one dimension, given each rule's spans in
// it, and their classes in classes. memberships counts (interval, rule) pairs against
// kMaxMemberships. Returns false when the budget is exceeded.
template <class Key>
bool build_dimension(const std::vector<std::vector<Span<Key>>>& spans_by_rule, IntervalMap<Key>& map,
                     ClassTable& classes, std::size_t& memberships) {
    std::vector<Key> starts{Key{0}};
    for (const auto& spans : spans_by_rule)
        for (const auto& span : spans) {
            starts.push_back(span.first);
            if (span.last != std::numeric_limits<Key>::max()) starts.push_back(static_cast<Key>(span.last + 1));
        }
    std::sort(starts.begin(), starts.end());
    starts.erase(std::unique(starts.begin(), starts.end()), starts.end());

    const auto position = [&](Key key) {
        return static_cast<std::size_t>(std::lower_bound(starts.begin(), starts.end(), key) - starts.begin());
    };
    std::vector<std::vector<std::uint32_t>> members(starts.size());
    for (std::uint32_t rule = 0; rule < spans_by_rule.size(); ++rule) {
        for (const auto& span : spans_by_rule[rule]) {
            const std::size_t end =
                span.last == std::numeric_limits<Key>::max() ? starts.size() : position(static_cast<Key>(span.last + 1));
            for (std::size_t i = position(span.first); i < end; ++i) {
                if (!members[i].empty() && members[i].back() == rule) continue;  // overlapping spans of one rule
                if (++memberships > kMaxMemberships) return false;
                members[i].push_back(rule);
            }
        }
    }
    map.classes.reserve(starts.size());
    for (auto& set : members) map.classes.push_back(classes.intern(std::move(set)));
    map.starts = std::move(starts);
    return true;
}

// The first element common to two sorted sets, or none. steps counts the membership
// tests against kMaxJoinSteps; returns false when the budget is exceeded.
bool first_common(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b, std::uint32_t none,
                  std::uint32_t& out, std::size_t& steps) {
    const auto& small = a.size() <= b.size() ? a : b;
    const auto& large = a.size() <= b.size() ? b : a;
    out = none;
    for (const std::uint32_t rule : small) {
        if (++steps > kMaxJoinSteps) return false;
        if (std::binary_search(large.begin(), large.end(), rule)) {
            out = rule;
            return true;
        }
    }
    return true;
}

}  // namespace

std::shared_ptr<const RuleIndex> RuleIndex::build(const std::vector<Rule>& rules) {
    if (rules.size() >= std::numeric_limits<std::uint32_t>::max()) return nullptr;
    auto index = std::make_shared<RuleIndex>();
    index->rule_count_ = static_cast<std::uint32_t>(rules.size());

    std::vector<std::vector<Span<std::uint32_t>>> ipv4(rules.size()), v4_mapped(rules.size()), ports(rules.size());
    std::vector<std::vector<Span<U128>>> ipv6(rules.size());
    for (std::size_t i = 0; i < rules.size(); ++i) {
        AddressSpans spans = address_spans(rules[i]);
        ipv4[i] = std::move(spans.ipv4);
        v4_mapped[i] = std::move(spans.v4_mapped);
        ipv6[i] = std::move(spans.ipv6);
        ports[i] = port_spans(rules[i]);
    }

    ClassTable address_classes, port_classes;
    std::size_t memberships = 0;
    if (!build_dimension(ipv4, index->ipv4_, address_classes, memberships) ||
        !build_dimension(v4_mapped, index->v4_mapped_, address_classes, memberships) ||
        !build_dimension(ipv6, index->ipv6_, address_classes, memberships) ||
        !build_dimension(ports, index->ports_, port_classes, memberships))
        return nullptr;

    index->port_class_count_ = static_cast<std::uint32_t>(port_classes.size());
    const std::size_t cells = address_classes.size() * port_classes.size();
    if (cells > kMaxCells) return nullptr;
    index->first_rule_.resize(cells);
    std::size_t steps = 0;
    for (std::size_t a = 0; a < address_classes.size(); ++a)
        for (std::size_t p = 0; p < port_classes.size(); ++p)
            if (!first_common(address_classes.members(a), port_classes.members(p), index->rule_count_,
                              index->first_rule_[a * port_classes.size() + p], steps))
                return nullptr;
    return index;
}

std::uint32_t RuleIndex::first_candidate(const Request& request) const noexcept {
    const Endpoint& address = request.address;
    std::uint32_t address_class;
    if (address.family == AF_INET)
        address_class = ipv4_.lookup(load_be32(address.bytes.data()));
    else if (address.family != AF_INET6)
        return 0;  // not an IP request: let the scan decide from the first rule
    else if (std::memcmp(address.bytes.data(), kV4MappedPrefix, 12) == 0)
        address_class = v4_mapped_.lookup(load_be32(address.bytes.data() + 12));
    else
        address_class = ipv6_.lookup(load_be128(address.bytes.data()));
    const std::uint32_t port_class = ports_.lookup(protocol_segment(request.protocol) * kPortsPerProtocol + address.port);
    return first_rule_[std::size_t{address_class} * port_class_count_ + port_class];
}

void index_rules(Policy& policy, std::size_t min_rules) {
    policy.index = policy.rules.size() >= min_rules ? RuleIndex::build(policy.rules) : nullptr;
}

}  // namespace bindguard::detail
