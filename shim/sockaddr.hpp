// Conversions between the caller's socket addresses and policy Endpoints.
// The caller's memory is only ever read, and never beyond the length it gave.
#pragma once

#include <sys/socket.h>

#include "bindguard/policy.hpp"

namespace bindguard::shim {

// Reads the address a caller passed to bind() on a socket of domain socket_domain
// (the address's own family, or SO_DOMAIN for AF_UNSPEC) into out. Returns true when
// it is an IP address the policy decides on; false when the call must go to the
// kernel untouched so that the kernel gives its own answer: NULL, a length
// above sizeof(sockaddr_storage) (EINVAL), a length too short for the family (AF_INET
// needs sizeof(sockaddr_in); AF_INET6 needs 24 bytes, SIN6_LEN_RFC2133, exactly as
// the kernel checks), a family other than AF_INET/AF_INET6, or a family that does
// not match socket_domain. One kernel quirk is followed: on an AF_INET socket the
// kernel binds an AF_UNSPEC address whose s_addr is INADDR_ANY as 0.0.0.0, so
// that is read as the AF_INET wildcard (it must not be a way around the policy).
bool read_bind_address(const sockaddr* addr, socklen_t len, int socket_domain, Endpoint& out) noexcept;

// Reads an address the kernel wrote (getsockname) into out. Returns false for a
// family other than AF_INET/AF_INET6.
bool read_kernel_address(const sockaddr_storage& storage, socklen_t len, Endpoint& out) noexcept;

// Writes endpoint as a sockaddr_in or sockaddr_in6 (all of its bytes) at the start
// of storage and returns the length to give to bind(); the rest is left as it was.
socklen_t write_sockaddr(const Endpoint& endpoint, sockaddr_storage& storage) noexcept;

// The local address of fd (getsockname into a sockaddr_storage). Returns false
// when getsockname fails or the family is not AF_INET/AF_INET6; errno may change.
bool local_address(int fd, Endpoint& out) noexcept;


// Reads the packed address array of an SCTP_SOCKOPT_BINDX_ADD request (what
// sctp_bindx(3) sends): sockaddr_in and sockaddr_in6 back to back, each as long
// as its family says, as the kernel walks it (sctp_setsockopt_bindx). Calls
// visit(endpoint, context) for each address in order and stops early when visit
// returns false. Returns false, having visited nothing, when the array is one the
// kernel refuses (EINVAL): empty, NULL, a family other than AF_INET/AF_INET6, or a
// truncated entry.
bool for_each_bindx_address(const void* buffer, socklen_t length, bool (*visit)(const Endpoint&, void*),
                            void* context) noexcept;

// The policy's protocol of an AF_INET/AF_INET6 socket of type (SO_TYPE) and
// protocol (SO_PROTOCOL): tcp for TCP and MPTCP streams and for SCTP (stream or
// SOCK_SEQPACKET, decided like TCP), udp for UDP and UDP-Lite datagrams (protocol
// 0 counts as the type's default), other for anything else (raw, ...).
Protocol protocol_of(int type, int protocol) noexcept;

// True for the socket types that can listen(): SOCK_STREAM and SOCK_SEQPACKET (SCTP).
bool can_listen(int type) noexcept;

}  // namespace bindguard::shim
