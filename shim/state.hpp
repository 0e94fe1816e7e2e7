// The process state of the shim: built once, then read without locks.
//
// Invariant: the State is immutable after initialisation. It is built exactly
// once: by the library's constructor when the process uses a policy file, on
// first use (its first bind or listen) under the built-in policy; in static
// storage with placement new, published with a release store, and never
// destroyed (no atexit destructor), so a bind() from another library's
// destructor, or from any thread at any time, reads a complete, unchanging
// object. The only exceptions are the Logger's atomics (rate limit, file-sink
// failure), which are designed for concurrent use.
#pragma once

#include "bindguard/image_view.hpp"
#include "bindguard/policy.hpp"
#include "log.hpp"

namespace bindguard::shim {

struct State {
    // The rules of the process's compiled policy image that can apply to it (its
    // program, command and service), read from the mapped image: the built-in one,
    // the policy file's, or the fail-closed one when the file's cannot be used.
    image::ProcessPolicy policy;
    const char* program = "";  // readlink(/proc/self/exe), "" when unknown
    const char* command = "";  // argv at start, joined by single spaces (launch.hpp)
    const char* service = "";  // BINDGUARD_SERVICE at start, "" when unset
    Logger logger;
    // Facts of the policy that let bind()/listen() skip work they do not need,
    // computed once with the state:
    // - loopback_unlogged_allow: no rule can match a loopback address and allows are
    //   not logged, so a bind to loopback goes straight to the kernel;
    // - rules_on_protocol: some rule filters on the protocol, so every decision needs
    //   the socket's protocol (otherwise only the UDP-ephemeral clause does).
    // - public_ipv4_rewrite: the policy rewrites every public IPv4 bind, in enforce mode, and
    //   rewrites are not logged: bind() sends a public IPv4 address with a port
    //   straight to loopback_ipv4 (guard.cpp's rewrite_public_ipv4()).
    bool loopback_unlogged_allow = false;
    bool rules_on_protocol = false;
    bool public_ipv4_rewrite = false;
};

// The state, built first if needed. Returns nullptr when there is none to use:
// the calling thread is the one building it (a bind() from inside the
// initialisation), the initialisation was interrupted by a fork that ran no
// pthread_atfork handlers (vfork, a raw clone), or it failed completely. A child
// of an ordinary fork() from another thread during the initialisation builds
// its own state on first use. The caller then uses bootstrap_decision(). Other threads that
// arrive while the state is being built wait for it (sched_yield). Never
// allocates or locks once the state exists. errno may change.
const State* process_state() noexcept;

// Called by the library's constructor: registers the fork handlers, resolves
// the next bind/listen/setsockopt, and builds the state now when the process
// uses a policy file (launch.hpp's policy_file): its errors are then printed at
// start, its log sink opened, and its [children] inherit known to the exec
// functions, which may run after vfork() and must not build anything. Under
// the built-in policy (a shell safety net) the state is built on first use: a
// process that never binds reads nothing.
void prepare_state_at_load() noexcept;

// [children] inherit of the process's policy, for the exec functions: the
// built-in policy's without building anything, else the state's (built by the
// constructor); true when initialisation failed (the child then fails closed
// too). Never allocates once the constructor has run.
bool policy_children_inherit() noexcept;

// The decision when no state can be used: fail closed, as simply as possible.
// Loopback is allowed, everything else denied (rule "fail-closed"). Not logged.
Decision bootstrap_decision(const Request& request) noexcept;

// The Request for an address on a socket, filled with the process facts of
// state (which may be nullptr).
Request make_request(const State* state, const Endpoint& address, Protocol protocol, bool v6only) noexcept;

}  // namespace bindguard::shim
