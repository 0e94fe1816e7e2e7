// Prototype (bench helper, not project code): a compiled form of a Policy for decide().
// Same answers as bindguard::decide() (differentially tested), built once, then
// read-only: flat arrays, fixed-width address compares, and an exact-match hash index
// per CIDR prefix length so that many-rule policies do not scan every rule.
#pragma once

#include <cstdint>
#include <vector>

#include "bindguard/policy.hpp"

namespace proto {

using bindguard::Action;
using bindguard::Decision;
using bindguard::Endpoint;
using bindguard::Policy;
using bindguard::Protocol;
using bindguard::Request;

struct Addr128 {
    std::uint64_t hi = 0, lo = 0;
    friend bool operator==(const Addr128&, const Addr128&) = default;
};

struct FlatRule {
    std::uint8_t protocol_mask;  // bit 0 tcp, 1 udp, 2 other
    Action action;
    std::uint32_t port_begin, port_end;  // into ports
    const char* name;
};

struct PortSpan {
    std::uint16_t first, last;
};

// An exact-match table: (masked address of one prefix length) -> sorted rule indices.
struct PrefixTable {
    unsigned prefix = 0;  // 0-32 for the v4 table, 0-128 for the v6 table
    Addr128 mask;
    std::vector<Addr128> keys;                        // open addressing, power of two
    std::vector<std::uint32_t> slot_begin, slot_end;  // into rule_lists; begin==end: empty
    std::vector<std::uint32_t> rule_lists;
    std::uint32_t min_rule = UINT32_MAX;  // lowest rule index in this table
};

struct CompiledPolicy {
    const Policy* policy = nullptr;
    std::vector<FlatRule> rules;
    std::vector<PortSpan> ports;
    std::vector<std::uint32_t> any_address_rules;  // rules without an address filter, ascending
    std::vector<PrefixTable> v4_tables;            // IPv4 CIDRs (match AF_INET and v4-mapped)
    std::vector<PrefixTable> v6_tables;            // IPv6 CIDRs (match AF_INET6 only)
    Endpoint mapped_loopback;                      // ::ffff:<loopback ipv4>, port 0
};

CompiledPolicy compile(const Policy& policy);
Decision decide_fast(const CompiledPolicy& compiled, const Request& request) noexcept;

}  // namespace proto
