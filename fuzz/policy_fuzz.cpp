// The policy parser on arbitrary bytes: never crashes, never throws; a policy it
// accepts specialises and decides without trouble, and the decision is one of
// the three actions on an address of the request's family or a loopback one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bindguard/policy.hpp"

using namespace bindguard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    LoadResult loaded = parse_policy(text, "fuzz.toml");
    for (const Diagnostic& diagnostic : loaded.diagnostics) (void)diagnostic.to_string();
    if (!loaded.ok()) return 0;
    const Policy policy = for_process(*loaded.policy, "/usr/bin/node", "node server.js", "web");
    for (const char* address : {"0.0.0.0:80", "[::]:443", "10.1.2.3:8080", "127.0.0.1:3000", "[::ffff:8.8.8.8]:53"}) {
        for (Protocol protocol : {Protocol::tcp, Protocol::udp, Protocol::other}) {
            Request request;
            request.address = *parse_endpoint(address);
            request.protocol = protocol;
            request.program = "/usr/bin/node";
            request.command = "node server.js";
            request.service = "web";
            const Decision decision = decide(policy, request);
            if (decision.action != Action::allow && decision.action != Action::deny &&
                decision.action != Action::rewrite)
                std::abort();
            if (decision.action == Action::rewrite && !is_loopback(decision.address)) std::abort();
            char line[512];
            describe(request, decision, policy.mode == Mode::audit, line, sizeof line);
        }
    }
    return 0;
}
