// The compiled rule index: decide() without a scan of the rules.
//
// A rule's address, port and protocol filters each cut their dimension of the request
// space into elementary intervals. Two intervals whose sets of matching rules are equal
// form one class; a table over (address class, port-and-protocol class) holds the first
// rule that matches both. A lookup is two binary searches and one table read, however
// many rules the policy has.
//
// When that table would be too large (its size is the product of the two class counts,
// which rules with distinct addresses and distinct ports make quadratic), the index is a
// segment tree instead: the address dimension's elementary intervals are its leaves, each
// rule is stored at the O(log n) nodes that cover its address spans, and each node holds
// a map from port key to the first of its rules whose port and protocol match there. A
// lookup is a binary search for the leaf, then one port search at each node on the path
// to the root that holds rules; the smallest answer wins. Built in O(n log^2 n) time and
// O(n log n) space, so no policy is left to a scan for want of an index.
//
// The index knows nothing of program, command and service filters: it returns the first
// rule whose address, port and protocol match, and decide() goes on scanning from there
// with every filter. No rule before that one can match, so the answer is the scan's.
//
// Built once when a Policy is made (parse_policy(), for_process()); immutable after that:
// lookups read it from any thread, never allocate and never lock.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::detail {

// Policies with fewer rules than this are scanned: a scan of a few rules is as fast as a
// lookup, and a process start then pays nothing to build an index.
inline constexpr std::size_t kIndexMinRules = 8;

// An IPv6 address as one integer, for ordering (a GCC/Clang extension).
__extension__ typedef unsigned __int128 Uint128;

// An inclusive range of keys of one dimension.
template <class Key>
struct Span {
    Key first;
    Key last;
};

// Sorted interval starts (the first is 0) and the class of each interval.
template <class Key>
struct IntervalMap {
    std::vector<Key> starts;
    std::vector<std::uint32_t> classes;

    // The class of the interval that holds key. Never allocates.
    std::uint32_t lookup(Key key) const noexcept {
        const Key* base = starts.data();
        std::size_t n = starts.size();
        while (n > 1) {
            const std::size_t half = n / 2;
            base = base[half] <= key ? base + half : base;
            n -= half;
        }
        return classes[static_cast<std::size_t>(base - starts.data())];
    }
};

// Limits on the work and size of the table form; past any of them the index is built
// as a segment tree. Tests lower them to build trees of small policies.
struct IndexLimits {
    std::size_t memberships = std::size_t{1} << 22;  // (interval, rule) pairs
    std::size_t cells = std::size_t{1} << 22;        // table entries
    std::size_t join_steps = std::size_t{1} << 24;   // membership tests filling the table
};

// A segment tree over the elementary intervals of one address space (see above).
// nodes[1] is the root, nodes[i]'s children are nodes[2i] and nodes[2i + 1], and leaf k
// is nodes[leaves + k]; nodes[0] is unused. A node without rules has an empty map; the
// classes of a node's map are rule positions (rule_count for none).
struct SegmentTree {
    std::uint32_t leaves = 0;  // a power of two, at least the number of intervals
    std::vector<IntervalMap<std::uint32_t>> nodes;

    // The first rule of the tree whose filters match leaf and port_key, or none.
    std::uint32_t first(std::uint32_t leaf, std::uint32_t port_key, std::uint32_t none) const noexcept {
        std::uint32_t best = none;
        for (std::size_t node = std::size_t{leaves} + leaf; node >= 1; node /= 2) {
            const IntervalMap<std::uint32_t>& map = nodes[node];
            if (map.starts.empty()) continue;
            const std::uint32_t found = map.lookup(port_key);
            if (found < best) best = found;
        }
        return best;
    }
};

class RuleIndex {
public:
    // The index of rules: the table when it fits limits, else the segment trees.
    // nullptr only when there are too many rules to number in 32 bits.
    static std::shared_ptr<const RuleIndex> build(const std::vector<Rule>& rules, const IndexLimits& limits = {});

    // The position of the first rule whose address, port and protocol filters match
    // request (program, command and service are not looked at), or rule_count() when
    // none does. Never allocates.
    std::uint32_t first_candidate(const Request& request) const noexcept;

    std::uint32_t rule_count() const noexcept { return rule_count_; }

    // True for the segment-tree form: the address maps' classes are then leaf numbers of
    // the trees below, and ports(), port_class_count() and first_rule() are empty.
    bool is_tree() const noexcept { return tree_; }

    // The parts, for the image compiler (image_writer.cpp), which stores them as they are.
    const IntervalMap<std::uint32_t>& ipv4() const noexcept { return ipv4_; }
    const IntervalMap<std::uint32_t>& v4_mapped() const noexcept { return v4_mapped_; }
    const IntervalMap<Uint128>& ipv6() const noexcept { return ipv6_; }
    const IntervalMap<std::uint32_t>& ports() const noexcept { return ports_; }
    std::uint32_t port_class_count() const noexcept { return port_class_count_; }
    const std::vector<std::uint32_t>& first_rule() const noexcept { return first_rule_; }
    const SegmentTree& ipv4_tree() const noexcept { return ipv4_tree_; }
    const SegmentTree& v4_mapped_tree() const noexcept { return v4_mapped_tree_; }
    const SegmentTree& ipv6_tree() const noexcept { return ipv6_tree_; }

private:
    using Span32 = Span<std::uint32_t>;
    using Span128 = Span<Uint128>;
    // The table form from each rule's spans in each dimension; false past limits.
    bool build_table(const std::vector<std::vector<Span32>>& ipv4, const std::vector<std::vector<Span32>>& v4_mapped,
                     const std::vector<std::vector<Span128>>& ipv6, const std::vector<std::vector<Span32>>& ports,
                     const IndexLimits& limits);

    std::uint32_t rule_count_ = 0;
    bool tree_ = false;
    SegmentTree ipv4_tree_, v4_mapped_tree_, ipv6_tree_;
    IntervalMap<std::uint32_t> ipv4_;         // AF_INET requests
    IntervalMap<std::uint32_t> v4_mapped_;    // AF_INET6 ::ffff:a.b.c.d requests, by a.b.c.d
    IntervalMap<Uint128> ipv6_;               // every other AF_INET6 request
    IntervalMap<std::uint32_t> ports_;        // by protocol * 65536 + port
    std::uint32_t port_class_count_ = 0;
    std::vector<std::uint32_t> first_rule_;  // [address class * port_class_count_ + port class]
};

// Gives policy an index of its rules when it has kIndexMinRules or more (min_rules:
// tests index smaller ones too, and give limits to build trees). policy.index stays
// empty when the policy is small.
void index_rules(Policy& policy, std::size_t min_rules = kIndexMinRules, const IndexLimits& limits = {});

}  // namespace bindguard::detail

namespace bindguard::image {
struct SourceIdentity;
// compile() (bindguard/compile.hpp) with the index built within limits (tests: trees).
std::vector<unsigned char> compile(const Policy& policy, const SourceIdentity& source,
                                   const detail::IndexLimits& limits);
}  // namespace bindguard::image
