#include "sockaddr.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace bindguard::shim {
namespace {

// The kernel's minimum length of an AF_INET6 address (no sin6_scope_id), see
// inet6_bind_sk() in Linux: SIN6_LEN_RFC2133.
constexpr socklen_t kMinimumInet6Length = 24;

void read_inet(const sockaddr_in& in, Endpoint& out) noexcept {
    out = Endpoint{};
    out.family = AF_INET;
    std::memcpy(out.bytes.data(), &in.sin_addr, 4);
    out.port = ntohs(in.sin_port);
}

// scope_id is only read when the caller's length covers it, as in the kernel.
void read_inet6(const sockaddr_in6& in6, socklen_t len, Endpoint& out) noexcept {
    out = Endpoint{};
    out.family = AF_INET6;
    std::memcpy(out.bytes.data(), &in6.sin6_addr, 16);
    out.port = ntohs(in6.sin6_port);
    out.scope_id = len >= sizeof(sockaddr_in6) ? in6.sin6_scope_id : 0;
}

}  // namespace

bool read_bind_address(const sockaddr* addr, socklen_t len, int socket_domain, Endpoint& out) noexcept {
    // The kernel refuses a length above sizeof(sockaddr_storage) with EINVAL.
    if (addr == nullptr || len < sizeof(sa_family_t) || len > sizeof(sockaddr_storage)) return false;
    // Copy only what the caller said it gave us, and of that no more than a
    // sockaddr_in6 (nothing beyond it is read); the rest stays zero. Read directly,
    // like any libc function reads its arguments: a pointer the kernel would refuse
    // with EFAULT faults here instead (checking it through the kernel would cost a
    // system call on every bind).
    sockaddr_in6 copy{};
    std::memcpy(&copy, addr, std::min<std::size_t>(len, sizeof copy));
    const sa_family_t family = copy.sin6_family;

    if (socket_domain == AF_INET) {
        if (len < sizeof(sockaddr_in)) return false;
        sockaddr_in in;
        std::memcpy(&in, &copy, sizeof in);
        if (family == AF_INET) {
            read_inet(in, out);
            return true;
        }
        // The kernel's compatibility rule (__inet_bind): AF_UNSPEC with INADDR_ANY
        // is bound as AF_INET 0.0.0.0; any other AF_UNSPEC fails with EAFNOSUPPORT.
        if (family == AF_UNSPEC && in.sin_addr.s_addr == htonl(INADDR_ANY)) {
            read_inet(in, out);
            return true;
        }
        return false;
    }
    if (socket_domain == AF_INET6) {
        if (family != AF_INET6 || len < kMinimumInet6Length) return false;
        sockaddr_in6 in6;
        std::memcpy(&in6, &copy, sizeof in6);
        read_inet6(in6, len, out);
        return true;
    }
    return false;
}

bool read_kernel_address(const sockaddr_storage& storage, socklen_t len, Endpoint& out) noexcept {
    if (storage.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
        sockaddr_in in;
        std::memcpy(&in, &storage, sizeof in);
        read_inet(in, out);
        return true;
    }
    if (storage.ss_family == AF_INET6 && len >= kMinimumInet6Length) {
        sockaddr_in6 in6;
        std::memcpy(&in6, &storage, sizeof in6);
        read_inet6(in6, len, out);
        return true;
    }
    return false;
}

socklen_t write_sockaddr(const Endpoint& endpoint, sockaddr_storage& storage) noexcept {
    if (endpoint.family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(endpoint.port);
        std::memcpy(&in.sin_addr, endpoint.bytes.data(), 4);
        std::memcpy(&storage, &in, sizeof in);
        return sizeof in;
    }
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(endpoint.port);
    std::memcpy(&in6.sin6_addr, endpoint.bytes.data(), 16);
    in6.sin6_scope_id = endpoint.scope_id;
    std::memcpy(&storage, &in6, sizeof in6);
    return sizeof in6;
}

bool local_address(int fd, Endpoint& out) noexcept {
    sockaddr_storage storage{};
    socklen_t len = sizeof storage;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) != 0) return false;
    return read_kernel_address(storage, len, out);
}

namespace {

// The length of the bindx entry at offset, or 0 when it is not a whole AF_INET/AF_INET6 entry.
std::size_t bindx_entry_length(const unsigned char* bytes, std::size_t length, std::size_t offset) noexcept {
    if (offset + sizeof(sa_family_t) > length) return 0;
    sa_family_t family;
    std::memcpy(&family, bytes + offset + offsetof(sockaddr, sa_family), sizeof family);
    const std::size_t entry = family == AF_INET ? sizeof(sockaddr_in) : family == AF_INET6 ? sizeof(sockaddr_in6) : 0;
    return entry != 0 && offset + entry <= length ? entry : 0;
}

}  // namespace

bool for_each_bindx_address(const void* buffer, socklen_t length, bool (*visit)(const Endpoint&, void*),
                            void* context) noexcept {
    if (buffer == nullptr || length == 0) return false;
    const auto* bytes = static_cast<const unsigned char*>(buffer);
    // First the whole array, as the kernel checks it before adding anything.
    for (std::size_t offset = 0; offset < length;) {
        const std::size_t entry = bindx_entry_length(bytes, length, offset);
        if (entry == 0) return false;
        offset += entry;
    }
    for (std::size_t offset = 0; offset < length;) {
        const std::size_t entry = bindx_entry_length(bytes, length, offset);
        sockaddr_storage storage{};
        std::memcpy(&storage, bytes + offset, entry);
        Endpoint endpoint;
        read_kernel_address(storage, static_cast<socklen_t>(entry), endpoint);
        if (!visit(endpoint, context)) break;
        offset += entry;
    }
    return true;
}

Protocol protocol_of(int type, int protocol) noexcept {
    if (type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP))
        return Protocol::tcp;
    if ((type == SOCK_STREAM || type == SOCK_SEQPACKET) && protocol == IPPROTO_SCTP) return Protocol::tcp;
    if (type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE))
        return Protocol::udp;
    return Protocol::other;
}

bool can_listen(int type) noexcept { return type == SOCK_STREAM || type == SOCK_SEQPACKET; }

}  // namespace bindguard::shim
