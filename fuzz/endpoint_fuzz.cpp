// parse_endpoint() on arbitrary text: what it accepts, format_endpoint() writes
// and parse_endpoint() reads back to the same endpoint.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bindguard/policy.hpp"

using namespace bindguard;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto endpoint = parse_endpoint(text);
    if (!endpoint) return 0;
    if (endpoint->family != AF_INET && endpoint->family != AF_INET6) std::abort();
    char formatted[128];
    const std::size_t length = format_endpoint(*endpoint, formatted, sizeof formatted);
    const auto again = parse_endpoint(std::string_view(formatted, length));
    if (!again) std::abort();
    Endpoint expected = *endpoint;
    expected.scope_id = 0;  // the text form has no scope
    Endpoint actual = *again;
    actual.scope_id = 0;
    if (!(actual == expected)) std::abort();
    (void)is_loopback(*endpoint);
    (void)is_wildcard(*endpoint);
    return 0;
}
