// compile_policy(): a per-process policy as the flat rule set of the BPF programs.
#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "bindguard/kernel.hpp"

namespace bindguard::kernel {
namespace {

// The address filter of one CIDR, written into entry (kind, masked address, mask).
void set_cidr(const Cidr& cidr, bg_entry& entry) {
    std::uint8_t address[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    unsigned prefix = cidr.prefix;
    if (cidr.family == AF_INET) {
        std::memcpy(address + 12, cidr.bytes.data(), 4);
        prefix += 96;
        entry.address_kind = BG_ADDR_V4;
    } else {
        std::memcpy(address, cidr.bytes.data(), 16);
        entry.address_kind = BG_ADDR_V6;
    }
    std::uint8_t mask[16] = {};
    for (unsigned bit = 0; bit < prefix; ++bit) mask[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
    for (int i = 0; i < 16; ++i) address[i] &= mask[i];
    std::memcpy(entry.addr, address, 16);
    std::memcpy(entry.mask, mask, 16);
}

__u8 action_code(Action action) {
    switch (action) {
        case Action::allow: return BG_ACTION_ALLOW;
        case Action::rewrite: return BG_ACTION_REWRITE;
        case Action::deny: return BG_ACTION_DENY;
    }
    return BG_ACTION_DENY;
}

__u8 protocol_code(Protocol protocol) {
    switch (protocol) {
        case Protocol::tcp: return BG_PROTO_TCP;
        case Protocol::udp: return BG_PROTO_UDP;
        case Protocol::other: return BG_PROTO_OTHER;
        case Protocol::any: return BG_PROTO_ANY;
    }
    return BG_PROTO_ANY;
}

}  // namespace

std::unique_ptr<bg_policy> compile_policy(const Policy& policy, const std::string& label) {
    for (const Rule& rule : policy.rules)
        if (rule.program || rule.command || rule.service)
            throw KernelError("rule \"" + rule.name + "\" still names a program, command or service; "
                              "compile the rules of one process (for_process)");
    if (policy.rules.size() >= BG_RULE_NO_POLICY)
        throw KernelError("the policy has too many rules for the kernel programs");
    auto compiled = std::make_unique<bg_policy>();
    std::memset(compiled.get(), 0, sizeof *compiled);
    bg_policy& out = *compiled;
    out.abi = BG_ABI_VERSION;
    out.audit = policy.mode == Mode::audit;
    out.default_action = action_code(policy.default_action);
    out.udp_ephemeral_allow = policy.udp_ephemeral == UdpEphemeral::allow;
    out.dual_stack_ipv4 = policy.dual_stack == DualStack::ipv4;
    out.log_all = policy.log.level == LogLevel::debug;
    out.logged = wants_log(policy);
    std::memcpy(&out.loopback4, policy.loopback_ipv4.bytes.data(), 4);
    std::memcpy(out.loopback6, policy.loopback_ipv6.bytes.data(), 16);
    std::snprintf(out.label, sizeof out.label, "%s", label.c_str());

    std::size_t needed = 0;
    for (const Rule& rule : policy.rules)
        needed += std::max<std::size_t>(1, rule.addresses.size()) * std::max<std::size_t>(1, rule.ports.size());
    if (needed > BG_MAX_ENTRIES)
        throw KernelError("the policy's rules need " + std::to_string(needed) + " kernel entries (one per address x "
                          "port range of each rule), more than the " + std::to_string(BG_MAX_ENTRIES) +
                          " the kernel programs hold; merge addresses into wider CIDRs or ports into ranges");

    std::uint32_t count = 0;
    for (std::size_t index = 0; index < policy.rules.size(); ++index) {
        const Rule& rule = policy.rules[index];
        const std::size_t addresses = std::max<std::size_t>(1, rule.addresses.size());
        const std::size_t ports = std::max<std::size_t>(1, rule.ports.size());
        for (std::size_t a = 0; a < addresses; ++a) {
            for (std::size_t p = 0; p < ports; ++p) {
                bg_entry& entry = out.entries[count++];
                entry.rule = static_cast<__u16>(index);
                entry.action = action_code(rule.action);
                entry.protocol = protocol_code(rule.protocol);
                entry.address_kind = BG_ADDR_ANY;
                if (!rule.addresses.empty()) set_cidr(rule.addresses[a], entry);
                entry.port_first = rule.ports.empty() ? 0 : rule.ports[p].first;
                entry.port_last = rule.ports.empty() ? 65535 : rule.ports[p].last;
            }
        }
    }
    out.count = count;
    return compiled;
}

std::string rule_name(const Policy& policy, std::uint16_t rule) {
    switch (rule) {
        case BG_RULE_LOOPBACK: return "loopback";
        case BG_RULE_UDP_EPHEMERAL: return "udp-ephemeral";
        case BG_RULE_DEFAULT: return "default";
        case BG_RULE_NO_POLICY: return "no-policy";
        default: break;
    }
    return rule < policy.rules.size() ? policy.rules[rule].name : "rule#" + std::to_string(rule);
}

}  // namespace bindguard::kernel
