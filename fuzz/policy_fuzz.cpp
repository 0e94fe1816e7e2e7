// The policy parser on arbitrary bytes: never crashes, never throws; a policy it
// accepts specialises and decides without trouble, and every decision is one of the
// three actions, the same with the rule index as with the scan alone (action, address
// and rule), on the request's own address for allow and deny, and for a rewrite on a
// loopback address of the request's family with the request's port.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "bindguard/policy.hpp"

using namespace bindguard;

namespace {

// Decides request with policy (its index, when it has one) and with a copy of it that
// has no index (decide() then scans the rules), and checks the decision. Aborts on a
// broken property.
void check(const Policy& policy, const Request& request) {
    Policy scanned = policy;
    scanned.index.reset();
    const Decision decision = decide(policy, request);
    const Decision by_scan = decide(scanned, request);
    if (decision.action != by_scan.action || !(decision.address == by_scan.address) ||
        std::strcmp(decision.rule, by_scan.rule) != 0)
        std::abort();
    switch (decision.action) {
        case Action::allow:
        case Action::deny:
            if (!(decision.address == request.address)) std::abort();
            break;
        case Action::rewrite:
            if (!is_loopback(decision.address) || decision.address.family != request.address.family ||
                decision.address.port != request.address.port)
                std::abort();
            break;
        default: std::abort();
    }
    char line[512];
    describe(request, decision, policy.mode == Mode::audit, line, sizeof line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    LoadResult loaded = parse_policy(text, "fuzz.toml");
    for (const Diagnostic& diagnostic : loaded.diagnostics) (void)diagnostic.to_string();
    if (!loaded.ok()) return 0;
    const Policy own = for_process(*loaded.policy, "/usr/bin/node", "node server.js", "web");
    for (const char* address : {"0.0.0.0:80", "[::]:443", "10.1.2.3:8080", "127.0.0.1:3000", "[::ffff:8.8.8.8]:53",
                                "0.0.0.0:0", "192.0.2.7:65535", "[fd00::1]:5432"}) {
        for (Protocol protocol : {Protocol::tcp, Protocol::udp, Protocol::other}) {
            for (bool v6only : {false, true}) {
                Request request;
                request.address = *parse_endpoint(address);
                if (v6only && request.address.family != AF_INET6) continue;
                request.protocol = protocol;
                request.v6only = v6only;
                request.program = "/usr/bin/node";
                request.command = "node server.js";
                request.service = "web";
                check(own, request);
                check(*loaded.policy, request);  // the whole policy: its program, command and service filters
            }
        }
    }
    return 0;
}
