// Unit tests of the shim's address readers (shim/sockaddr.cpp) for what the
// kernel here cannot run: the address array of an SCTP bindx request, and how
// an SCTP socket is classified (this kernel has no SCTP module).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "sockaddr.hpp"

namespace {

using bindguard::Endpoint;
using bindguard::format_endpoint;
using bindguard::shim::for_each_bindx_address;

void append_inet(std::vector<unsigned char>& out, const char* address, int port) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, address, &in.sin_addr);
    const auto* bytes = reinterpret_cast<const unsigned char*>(&in);
    out.insert(out.end(), bytes, bytes + sizeof in);
}

void append_inet6(std::vector<unsigned char>& out, const char* address, int port) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET6, address, &in6.sin6_addr);
    const auto* bytes = reinterpret_cast<const unsigned char*>(&in6);
    out.insert(out.end(), bytes, bytes + sizeof in6);
}

// Collects the endpoints as text; stop_after > 0 stops the walk after that many.
struct Collected {
    std::vector<std::string> endpoints;
    std::size_t stop_after = 0;
};

bool collect(const Endpoint& endpoint, void* context) noexcept {
    auto& collected = *static_cast<Collected*>(context);
    char text[64];
    format_endpoint(endpoint, text, sizeof text);
    collected.endpoints.emplace_back(text);
    return collected.stop_after == 0 || collected.endpoints.size() < collected.stop_after;
}

TEST(BindxArray, MixedFamiliesAreReadInOrder) {
    std::vector<unsigned char> packed;
    append_inet(packed, "127.0.0.1", 9000);
    append_inet6(packed, "::", 9000);
    append_inet(packed, "10.1.2.3", 9001);
    Collected collected;
    ASSERT_TRUE(for_each_bindx_address(packed.data(), static_cast<socklen_t>(packed.size()), collect, &collected));
    EXPECT_EQ(collected.endpoints, (std::vector<std::string>{"127.0.0.1:9000", "[::]:9000", "10.1.2.3:9001"}));
}

TEST(BindxArray, TheWalkStopsWhenTheVisitorSaysSo) {
    std::vector<unsigned char> packed;
    append_inet(packed, "0.0.0.0", 1);
    append_inet(packed, "127.0.0.1", 2);
    Collected collected;
    collected.stop_after = 1;
    ASSERT_TRUE(for_each_bindx_address(packed.data(), static_cast<socklen_t>(packed.size()), collect, &collected));
    EXPECT_EQ(collected.endpoints, (std::vector<std::string>{"0.0.0.0:1"}));
}

TEST(BindxArray, ArraysTheKernelRefusesAreNotVisitedAtAll) {
    std::vector<unsigned char> packed;
    append_inet(packed, "0.0.0.0", 1);
    append_inet6(packed, "::", 2);
    Collected collected;
    // Truncated last entry, a foreign family, an empty or NULL array: EINVAL in the kernel.
    EXPECT_FALSE(for_each_bindx_address(packed.data(), static_cast<socklen_t>(packed.size() - 1), collect, &collected));
    std::vector<unsigned char> foreign = packed;
    sa_family_t unix_family = AF_UNIX;
    std::memcpy(foreign.data() + sizeof(sockaddr_in), &unix_family, sizeof unix_family);
    EXPECT_FALSE(for_each_bindx_address(foreign.data(), static_cast<socklen_t>(foreign.size()), collect, &collected));
    EXPECT_FALSE(for_each_bindx_address(packed.data(), 0, collect, &collected));
    EXPECT_FALSE(for_each_bindx_address(nullptr, 16, collect, &collected));
    EXPECT_FALSE(for_each_bindx_address(packed.data(), 1, collect, &collected));  // not even a family
    EXPECT_TRUE(collected.endpoints.empty());
}

TEST(SocketProtocol, SctpIsDecidedLikeTcpAndItsSeqpacketSocketsCanListen) {
    using bindguard::Protocol;
    using bindguard::shim::can_listen;
    using bindguard::shim::protocol_of;
    EXPECT_EQ(protocol_of(SOCK_STREAM, IPPROTO_SCTP), Protocol::tcp);
    EXPECT_EQ(protocol_of(SOCK_SEQPACKET, IPPROTO_SCTP), Protocol::tcp);
    EXPECT_TRUE(can_listen(SOCK_SEQPACKET));
    EXPECT_TRUE(can_listen(SOCK_STREAM));
    EXPECT_FALSE(can_listen(SOCK_DGRAM));
    EXPECT_FALSE(can_listen(SOCK_RAW));
    EXPECT_EQ(protocol_of(SOCK_STREAM, 0), Protocol::tcp);
    EXPECT_EQ(protocol_of(SOCK_STREAM, IPPROTO_TCP), Protocol::tcp);
    EXPECT_EQ(protocol_of(SOCK_STREAM, IPPROTO_MPTCP), Protocol::tcp);
    EXPECT_EQ(protocol_of(SOCK_DGRAM, 0), Protocol::udp);
    EXPECT_EQ(protocol_of(SOCK_DGRAM, IPPROTO_UDPLITE), Protocol::udp);
    EXPECT_EQ(protocol_of(SOCK_RAW, IPPROTO_TCP), Protocol::other);
    EXPECT_EQ(protocol_of(SOCK_SEQPACKET, 0), Protocol::other);
}

}  // namespace
