// The policy layer of the shim: what bind() and listen() do under the policy.
// The exported wrappers (bind.cpp, listen.cpp) and any other route to the same
// system calls (a syscall() wrapper for SYS_bind/SYS_listen) call these, so every
// route gets exactly the same decisions and logs.
//
// Both functions are noexcept, never allocate or lock once the process state
// exists (see state.hpp), and follow the return convention of the real call:
// 0 on success with errno unchanged, or -1 with errno set (EACCES when the
// policy refuses; otherwise exactly the error of the real call).
#pragma once

#include <sys/socket.h>

namespace bindguard::shim {

// bind(fd, addr, len) under the policy. call names the route in the log
// ("bind"). NULL, too short or foreign-family addresses, and descriptors that
// are not sockets go straight to the real bind() so the kernel gives its own
// answer. Rewrite: the real bind() receives a rewritten copy (the caller's
// memory is never written). Deny: -1/EACCES without calling the kernel. Audit
// mode: always the original address, the would-be action is logged.
int guarded_bind(int fd, const sockaddr* addr, socklen_t len, const char* call) noexcept;

// listen(fd, backlog) under the policy, for TCP sockets of AF_INET/AF_INET6
// (anything else goes straight to the real listen()). A socket never bound
// (wildcard, port 0) is first bound per the policy (a rewrite binds it to the
// loopback target, port 0; if that bind fails, listen fails with its errno and
// the socket does not listen). A socket already bound to an address the policy
// does not allow as it is fails with EACCES (the bind was not seen by us).
int guarded_listen(int fd, int backlog) noexcept;

// setsockopt(fd, level, name, value, length) under the policy. Only
// SCTP_SOCKOPT_BINDX_ADD (level SOL_SCTP; what sctp_bindx(3) sends) is looked at,
// and only on an SCTP socket: it adds local addresses, a bind by another name.
// When every address is one the policy allows as it is, the request goes to the
// kernel unchanged; otherwise the whole request fails with EACCES (an address
// array is not rewritten) and the first refused address is logged (call
// "sctp_bindx"); audit mode lets it through and logs the would-be action. A
// malformed array, a socket that is not SCTP and everything else go to the next
// setsockopt() untouched, so the kernel gives its own answer.
int guarded_setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept;

}  // namespace bindguard::shim
