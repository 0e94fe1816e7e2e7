// Building the compiled rule index (rule_index.hpp) and looking a request up in it.
#include "rule_index.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include "internal.hpp"

namespace bindguard::detail {
namespace {

using U128 = Uint128;

constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

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

// The starts of the elementary intervals of one dimension, given each rule's spans in
// it: 0 and every span's first key and the key after its last, sorted, each once.
template <class Key>
std::vector<Key> elementary_starts(const std::vector<std::vector<Span<Key>>>& spans_by_rule) {
    std::vector<Key> starts{Key{0}};
    for (const auto& spans : spans_by_rule)
        for (const auto& span : spans) {
            starts.push_back(span.first);
            if (span.last != std::numeric_limits<Key>::max()) starts.push_back(static_cast<Key>(span.last + 1));
        }
    std::sort(starts.begin(), starts.end());
    starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
    return starts;
}

// The elementary intervals [first, end) that span covers, as positions in starts.
template <class Key>
std::pair<std::size_t, std::size_t> covered(const std::vector<Key>& starts, const Span<Key>& span) {
    const auto position = [&](Key key) {
        return static_cast<std::size_t>(std::lower_bound(starts.begin(), starts.end(), key) - starts.begin());
    };
    const std::size_t end =
        span.last == std::numeric_limits<Key>::max() ? starts.size() : position(static_cast<Key>(span.last + 1));
    return {position(span.first), end};
}

// Fills map with the elementary intervals of one dimension, given each rule's spans in
// it, and their classes in classes. memberships counts (interval, rule) pairs against
// limit. Returns false when the limit is exceeded.
template <class Key>
bool build_dimension(const std::vector<std::vector<Span<Key>>>& spans_by_rule, IntervalMap<Key>& map,
                     ClassTable& classes, std::size_t& memberships, std::size_t limit) {
    std::vector<Key> starts = elementary_starts(spans_by_rule);
    std::vector<std::vector<std::uint32_t>> members(starts.size());
    for (std::uint32_t rule = 0; rule < spans_by_rule.size(); ++rule) {
        for (const auto& span : spans_by_rule[rule]) {
            const auto [first, end] = covered(starts, span);
            for (std::size_t i = first; i < end; ++i) {
                if (!members[i].empty() && members[i].back() == rule) continue;  // overlapping spans of one rule
                if (++memberships > limit) return false;
                members[i].push_back(rule);
            }
        }
    }
    map.classes.reserve(starts.size());
    for (auto& set : members) map.classes.push_back(classes.intern(std::move(set)));
    map.starts = std::move(starts);
    return true;
}

// The map from port key to the first of rules (ascending positions) whose port spans
// cover it (none where no rule does), with equal neighbours merged. Each interval is
// written once: a "next unwritten interval" forest skips what earlier rules took.
IntervalMap<std::uint32_t> first_rule_by_port(const std::vector<std::uint32_t>& rules,
                                              const std::vector<std::vector<Span<std::uint32_t>>>& port_spans,
                                              std::uint32_t none) {
    std::vector<std::vector<Span<std::uint32_t>>> spans;
    spans.reserve(rules.size());
    for (const std::uint32_t rule : rules) spans.push_back(port_spans[rule]);
    const std::vector<std::uint32_t> starts = elementary_starts(spans);
    std::vector<std::uint32_t> first(starts.size(), none);
    std::vector<std::size_t> next(starts.size() + 1);  // next[i]: an interval at or after i not yet written
    for (std::size_t i = 0; i < next.size(); ++i) next[i] = i;
    const auto unwritten = [&](std::size_t i) {
        std::size_t root = i;
        while (next[root] != root) root = next[root];
        while (next[i] != root) i = std::exchange(next[i], root);
        return root;
    };
    for (std::size_t r = 0; r < rules.size(); ++r)
        for (const auto& span : spans[r]) {
            const auto [begin, end] = covered(starts, span);
            for (std::size_t i = unwritten(begin); i < end; i = unwritten(i + 1)) {
                first[i] = rules[r];
                next[i] = i + 1;
            }
        }
    IntervalMap<std::uint32_t> map;
    for (std::size_t i = 0; i < starts.size(); ++i) {
        if (!map.classes.empty() && map.classes.back() == first[i]) continue;
        map.starts.push_back(starts[i]);
        map.classes.push_back(first[i]);
    }
    return map;
}

// The segment tree of one address space (rule_index.hpp), and in leaves the map from an
// address to its leaf.
template <class Key>
void build_tree(const std::vector<std::vector<Span<Key>>>& address_spans,
                const std::vector<std::vector<Span<std::uint32_t>>>& port_spans, std::uint32_t none,
                IntervalMap<Key>& leaves, SegmentTree& tree) {
    leaves.starts = elementary_starts(address_spans);
    leaves.classes.resize(leaves.starts.size());
    for (std::size_t i = 0; i < leaves.classes.size(); ++i) leaves.classes[i] = static_cast<std::uint32_t>(i);
    std::size_t size = 1;
    while (size < leaves.starts.size()) size *= 2;
    tree.leaves = static_cast<std::uint32_t>(size);
    std::vector<std::vector<std::uint32_t>> rules_at(2 * size);
    const auto add = [&](std::size_t node, std::uint32_t rule) {
        if (rules_at[node].empty() || rules_at[node].back() != rule) rules_at[node].push_back(rule);
    };
    for (std::uint32_t rule = 0; rule < address_spans.size(); ++rule)
        for (const auto& span : address_spans[rule]) {
            // The canonical cover of the leaves [first, end): at most two nodes a level.
            auto [first, end] = covered(leaves.starts, span);
            for (first += size, end += size; first < end; first /= 2, end /= 2) {
                if (first & 1) add(first++, rule);
                if (end & 1) add(--end, rule);
            }
        }
    tree.nodes.assign(2 * size, {});
    for (std::size_t node = 1; node < 2 * size; ++node)
        if (!rules_at[node].empty()) tree.nodes[node] = first_rule_by_port(rules_at[node], port_spans, none);
}

// The first element common to two sorted sets, or none. steps counts the membership
// tests against limit; returns false when it is exceeded.
bool first_common(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b, std::uint32_t none,
                  std::uint32_t& out, std::size_t& steps, std::size_t limit) {
    const auto& small = a.size() <= b.size() ? a : b;
    const auto& large = a.size() <= b.size() ? b : a;
    out = none;
    for (const std::uint32_t rule : small) {
        if (++steps > limit) return false;
        if (std::binary_search(large.begin(), large.end(), rule)) {
            out = rule;
            return true;
        }
    }
    return true;
}

}  // namespace

std::shared_ptr<const RuleIndex> RuleIndex::build(const std::vector<Rule>& rules, const IndexLimits& limits) {
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
    if (index->build_table(ipv4, v4_mapped, ipv6, ports, limits)) return index;

    // Too large for the table: the segment trees, whose size grows as n log n.
    auto tree = std::make_shared<RuleIndex>();
    tree->rule_count_ = index->rule_count_;
    tree->tree_ = true;
    build_tree(ipv4, ports, tree->rule_count_, tree->ipv4_, tree->ipv4_tree_);
    build_tree(v4_mapped, ports, tree->rule_count_, tree->v4_mapped_, tree->v4_mapped_tree_);
    build_tree(ipv6, ports, tree->rule_count_, tree->ipv6_, tree->ipv6_tree_);
    return tree;
}

bool RuleIndex::build_table(const std::vector<std::vector<Span32>>& ipv4, const std::vector<std::vector<Span32>>& v4_mapped,
                            const std::vector<std::vector<Span128>>& ipv6, const std::vector<std::vector<Span32>>& ports,
                            const IndexLimits& limits) {
    ClassTable address_classes, port_classes;
    std::size_t memberships = 0;
    if (!build_dimension(ipv4, ipv4_, address_classes, memberships, limits.memberships) ||
        !build_dimension(v4_mapped, v4_mapped_, address_classes, memberships, limits.memberships) ||
        !build_dimension(ipv6, ipv6_, address_classes, memberships, limits.memberships) ||
        !build_dimension(ports, ports_, port_classes, memberships, limits.memberships))
        return false;
    port_class_count_ = static_cast<std::uint32_t>(port_classes.size());
    const std::size_t cells = address_classes.size() * port_classes.size();
    if (cells > limits.cells) return false;
    first_rule_.resize(cells);
    std::size_t steps = 0;
    for (std::size_t a = 0; a < address_classes.size(); ++a)
        for (std::size_t p = 0; p < port_classes.size(); ++p)
            if (!first_common(address_classes.members(a), port_classes.members(p), rule_count_,
                              first_rule_[a * port_classes.size() + p], steps, limits.join_steps))
                return false;
    return true;
}

std::uint32_t RuleIndex::first_candidate(const Request& request) const noexcept {
    const Endpoint& address = request.address;
    const SegmentTree* tree;
    std::uint32_t address_class;
    if (address.family == AF_INET) {
        address_class = ipv4_.lookup(load_be32(address.bytes.data()));
        tree = &ipv4_tree_;
    } else if (address.family != AF_INET6) {
        return 0;  // not an IP request: let the scan decide from the first rule
    } else if (std::memcmp(address.bytes.data(), kV4MappedPrefix, 12) == 0) {
        address_class = v4_mapped_.lookup(load_be32(address.bytes.data() + 12));
        tree = &v4_mapped_tree_;
    } else {
        address_class = ipv6_.lookup(load_be128(address.bytes.data()));
        tree = &ipv6_tree_;
    }
    const std::uint32_t port_key = protocol_segment(request.protocol) * kPortsPerProtocol + address.port;
    if (tree_) return tree->first(address_class, port_key, rule_count_);
    const std::uint32_t port_class = ports_.lookup(port_key);
    return first_rule_[std::size_t{address_class} * port_class_count_ + port_class];
}

void index_rules(Policy& policy, std::size_t min_rules, const IndexLimits& limits) {
    policy.index = policy.rules.size() >= min_rules ? RuleIndex::build(policy.rules, limits) : nullptr;
}

}  // namespace bindguard::detail
