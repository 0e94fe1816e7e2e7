// The exported bindresvport(): glibc's binds a reserved port (600-1023) with an
// internal call that no preload can see, so an RPC service's UDP socket would stay
// on 0.0.0.0. This one tries the same ports through the policy (guard.hpp), each
// attempt a bind() like any other ("call=bindresvport" in the log).
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "guard.hpp"

namespace bindguard::shim {
namespace {

constexpr int kFirstPort = 600;  // glibc's STARTPORT
constexpr int kLastPort = 1023;  // glibc's ENDPORT

// The address to bind: the caller's (AF_INET, or AF_INET6 as libtirpc's version
// takes), or the wildcard of the socket's own family when sin is NULL. Returns its
// length, or 0 with errno set (EPFNOSUPPORT for another family, as glibc).
socklen_t starting_address(int fd, const sockaddr_in* sin, sockaddr_storage& out) noexcept {
    std::memset(&out, 0, sizeof out);
    int family = AF_INET;
    if (sin != nullptr) {
        family = sin->sin_family;
    } else {
        socklen_t length = sizeof family;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &length) != 0) return 0;
    }
    if (family == AF_INET) {
        if (sin != nullptr) std::memcpy(&out, sin, sizeof(sockaddr_in));
        out.ss_family = AF_INET;
        return sizeof(sockaddr_in);
    }
    if (family == AF_INET6) {
        if (sin != nullptr) std::memcpy(&out, sin, sizeof(sockaddr_in6));
        out.ss_family = AF_INET6;
        return sizeof(sockaddr_in6);
    }
    errno = EPFNOSUPPORT;
    return 0;
}

void set_port(sockaddr_storage& address, int port) noexcept {
    const in_port_t network = htons(static_cast<in_port_t>(port));
    if (address.ss_family == AF_INET) reinterpret_cast<sockaddr_in&>(address).sin_port = network;
    else reinterpret_cast<sockaddr_in6&>(address).sin6_port = network;
}

}  // namespace
}  // namespace bindguard::shim

// Same contract as bindresvport(3): 0 with the port written into *sin (when
// given), or -1 with errno (EADDRINUSE when every reserved port is taken; EACCES
// when the policy refuses the address). errno is kept on success.
extern "C" __attribute__((visibility("default"))) int bindresvport(int fd, struct sockaddr_in* sin) noexcept {
    using namespace bindguard::shim;
    const int saved_errno = errno;
    sockaddr_storage address;
    const socklen_t length = starting_address(fd, sin, address);
    if (length == 0) return -1;
    constexpr int kPorts = kLastPort - kFirstPort + 1;
    const int first = static_cast<int>(getpid() % kPorts);
    for (int i = 0; i < kPorts; ++i) {
        const int port = kFirstPort + (first + i) % kPorts;
        set_port(address, port);
        if (guarded_bind(fd, reinterpret_cast<const sockaddr*>(&address), length, "bindresvport") == 0) {
            if (sin != nullptr) std::memcpy(sin, &address, length);
            errno = saved_errno;
            return 0;
        }
        if (errno != EADDRINUSE) return -1;
    }
    errno = EADDRINUSE;
    return -1;
}
