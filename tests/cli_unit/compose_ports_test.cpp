// The Compose port syntaxes (cli/lib/compose_ports.cpp), as compose-check and the Docker
// audit read them.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <string>
#include <variant>

#include "compose_ports.hpp"

namespace bindguard::cli::compose {
namespace {

// The spec parsed from text; fails the test (and returns an empty spec) on an error.
PortSpec short_spec(const std::string& text) {
    std::variant<PortSpec, std::string> parsed = parse_short_syntax(text);
    if (const std::string* error = std::get_if<std::string>(&parsed)) {
        ADD_FAILURE() << text << ": " << *error;
        return {};
    }
    return std::get<PortSpec>(parsed);
}

TEST(ComposeShortSyntax, AddressHostPortAndContainerPort) {
    PortSpec spec = short_spec("127.0.0.1:4000:4000");
    EXPECT_EQ(spec.address_kind, AddressKind::literal);
    EXPECT_EQ(spec.address, "127.0.0.1");
    EXPECT_EQ(spec.family, AF_INET);
    ASSERT_TRUE(spec.published);
    EXPECT_EQ(spec.published->first, 4000);
    EXPECT_EQ(spec.published->last, 4000);
    EXPECT_EQ(spec.target_text, "4000");
    EXPECT_EQ(spec.protocol_text, "");
}

TEST(ComposeShortSyntax, IPv6AddressesWithAndWithoutBrackets) {
    for (const std::string text : {"[::1]:8080:80", "::1:8080:80"}) {
        PortSpec spec = short_spec(text);
        EXPECT_EQ(spec.address_kind, AddressKind::literal) << text;
        EXPECT_EQ(spec.address, "::1") << text;
        EXPECT_EQ(spec.family, AF_INET6) << text;
        EXPECT_EQ(spec.published_text, "8080") << text;
        EXPECT_EQ(spec.target_text, "80") << text;
    }
}

TEST(ComposeShortSyntax, NoAddressMeansEveryAddressAndNoHostPortMeansDockerPicksOne) {
    PortSpec only_target = short_spec("3000");
    EXPECT_EQ(only_target.address_kind, AddressKind::none);
    EXPECT_EQ(only_target.published_text, "");
    EXPECT_FALSE(only_target.published);
    EXPECT_EQ(only_target.target_text, "3000");
    PortSpec no_host_port = short_spec("127.0.0.1::5000");
    EXPECT_EQ(no_host_port.address, "127.0.0.1");
    EXPECT_EQ(no_host_port.published_text, "");
    EXPECT_EQ(no_host_port.target_text, "5000");
}

TEST(ComposeShortSyntax, RangesAndProtocols) {
    PortSpec range = short_spec("5000-5010:5000-5010");
    ASSERT_TRUE(range.published);
    EXPECT_EQ(range.published->first, 5000);
    EXPECT_EQ(range.published->last, 5010);
    PortSpec udp = short_spec("6060:6060/udp");
    EXPECT_EQ(udp.protocol_text, "udp");
    EXPECT_EQ(udp.protocol, Protocol::udp);
    EXPECT_EQ(udp.address_kind, AddressKind::none);
}

TEST(ComposeShortSyntax, InterpolationIsRecognisedNeverResolved) {
    PortSpec spec = short_spec("${HOST_IP:-0.0.0.0}:${PORT}:80");
    EXPECT_EQ(spec.address_kind, AddressKind::interpolated);
    EXPECT_EQ(spec.address, "${HOST_IP:-0.0.0.0}");
    EXPECT_EQ(spec.published_text, "${PORT}");
    EXPECT_FALSE(spec.published);
    EXPECT_EQ(spec.target_text, "80");
}

TEST(ComposeShortSyntax, ErrorsAreReported) {
    for (const std::string text : {"", "host:80:80", "70000:80", "80:80/tcp/udp", "${UNTERMINATED:80:80"})
        EXPECT_TRUE(std::holds_alternative<std::string>(parse_short_syntax(text))) << "accepted: " << text;
}

TEST(ComposeMask, EscapesAndInterpolationsAreMasked) {
    auto masked = mask_interpolation("a$$b${X:-c:d}e$Y");
    ASSERT_TRUE(std::holds_alternative<MaskedText>(masked));
    const MaskedText& text = std::get<MaskedText>(masked);
    EXPECT_EQ(text.masked, std::string("a$b") + kInterpolationMark + "e" + kInterpolationMark);
    EXPECT_TRUE(is_interpolated(text));
    EXPECT_EQ(text.original("a$$b${X:-c:d}e$Y", 3, 4), "${X:-c:d}");
    auto escaped = mask_interpolation("a$$b");
    ASSERT_TRUE(std::holds_alternative<MaskedText>(escaped));
    EXPECT_FALSE(is_interpolated(std::get<MaskedText>(escaped)));
    EXPECT_TRUE(std::holds_alternative<std::string>(mask_interpolation("${X")));
}

TEST(ComposeLongSyntax, FieldsAsWritten) {
    auto parsed = parse_long_syntax("80", "8080", "127.0.0.1", "tcp");
    ASSERT_TRUE(std::holds_alternative<PortSpec>(parsed)) << std::get<std::string>(parsed);
    const PortSpec& spec = std::get<PortSpec>(parsed);
    EXPECT_EQ(spec.address, "127.0.0.1");
    ASSERT_TRUE(spec.published);
    EXPECT_EQ(spec.published->first, 8080);
    EXPECT_EQ(spec.protocol, Protocol::tcp);
    auto no_ip = parse_long_syntax("80", "8080", std::nullopt, std::nullopt);
    ASSERT_TRUE(std::holds_alternative<PortSpec>(no_ip));
    EXPECT_EQ(std::get<PortSpec>(no_ip).address_kind, AddressKind::none);
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_long_syntax("80", "8080", "not-an-ip", std::nullopt)));
}

}  // namespace
}  // namespace bindguard::cli::compose
