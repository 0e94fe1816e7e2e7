// Endpoints, loopback/wildcard classification and CIDR matching.
#include <gtest/gtest.h>

#include "bindguard/policy.hpp"

using namespace bindguard;

TEST(Endpoint, Smoke) {
    auto ep = parse_endpoint("0.0.0.0:3000");
    ASSERT_TRUE(ep);
    EXPECT_TRUE(is_wildcard(*ep));
}
