// Helpers shared by the policy unit tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "bindguard/policy.hpp"

namespace bgunit {

// The endpoint written as "ADDRESS:PORT"; fails the test when it does not parse.
inline bindguard::Endpoint ep(std::string_view text) {
    auto parsed = bindguard::parse_endpoint(text);
    EXPECT_TRUE(parsed.has_value()) << text;
    return parsed.value_or(bindguard::Endpoint{});
}

// A request for address over protocol, with the given process identity.
inline bindguard::Request request(std::string_view address, bindguard::Protocol protocol = bindguard::Protocol::tcp,
                                  bool v6only = false) {
    bindguard::Request r;
    r.address = ep(address);
    r.protocol = protocol;
    r.v6only = v6only;
    return r;
}

// The endpoint formatted back to text ("127.0.0.1:3000", "[::1]:80").
inline std::string text(const bindguard::Endpoint& endpoint) {
    char buf[64];
    bindguard::format_endpoint(endpoint, buf, sizeof buf);
    return buf;
}

// The policy parsed from text; fails the test (printing the diagnostics) when invalid.
inline bindguard::Policy policy(std::string_view toml) {
    auto result = bindguard::parse_policy(toml, "test.toml");
    std::string all;
    for (const auto& d : result.diagnostics) all += d.to_string() + "\n";
    EXPECT_TRUE(result.ok()) << all;
    return result.ok() ? *result.policy : bindguard::Policy{};
}

// The one-line description of decide() on request, as `bindguard explain` prints it, plus the rule.
inline std::string explain(const bindguard::Policy& p, const bindguard::Request& r, bool audit = false) {
    const auto decision = bindguard::decide(p, r);
    char buf[256];
    bindguard::describe(r, decision, audit, buf, sizeof buf);
    return std::string(buf) + " (rule " + decision.rule + ")";
}

}  // namespace bgunit
