// The compiled rule index: decide() without a scan of the rules.
//
// A rule's address, port and protocol filters each cut their dimension of the request
// space into elementary intervals. Two intervals whose sets of matching rules are equal
// form one class; a table over (address class, port-and-protocol class) holds the first
// rule that matches both. A lookup is two binary searches and one table read, however
// many rules the policy has.
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

class RuleIndex {
public:
    // The index of rules, or nullptr when it would exceed the build budget (millions of
    // interval-rule pairs or table cells: a pathological policy is scanned instead).
    static std::shared_ptr<const RuleIndex> build(const std::vector<Rule>& rules);

    // The position of the first rule whose address, port and protocol filters match
    // request (program, command and service are not looked at), or rule_count() when
    // none does. Never allocates.
    std::uint32_t first_candidate(const Request& request) const noexcept;

    std::uint32_t rule_count() const noexcept { return rule_count_; }

    // The parts, for the image compiler (image_writer.cpp), which stores them as they are.
    const IntervalMap<std::uint32_t>& ipv4() const noexcept { return ipv4_; }
    const IntervalMap<std::uint32_t>& v4_mapped() const noexcept { return v4_mapped_; }
    const IntervalMap<Uint128>& ipv6() const noexcept { return ipv6_; }
    const IntervalMap<std::uint32_t>& ports() const noexcept { return ports_; }
    std::uint32_t port_class_count() const noexcept { return port_class_count_; }
    const std::vector<std::uint32_t>& first_rule() const noexcept { return first_rule_; }

private:
    std::uint32_t rule_count_ = 0;
    IntervalMap<std::uint32_t> ipv4_;         // AF_INET requests
    IntervalMap<std::uint32_t> v4_mapped_;    // AF_INET6 ::ffff:a.b.c.d requests, by a.b.c.d
    IntervalMap<Uint128> ipv6_;               // every other AF_INET6 request
    IntervalMap<std::uint32_t> ports_;        // by protocol * 65536 + port
    std::uint32_t port_class_count_ = 0;
    std::vector<std::uint32_t> first_rule_;  // [address class * port_class_count_ + port class]
};

// Gives policy an index of its rules when it has kIndexMinRules or more (min_rules:
// tests index smaller ones too). Returns nothing; policy.index stays empty when the
// policy is small or too large to index.
void index_rules(Policy& policy, std::size_t min_rules = kIndexMinRules);

}  // namespace bindguard::detail
