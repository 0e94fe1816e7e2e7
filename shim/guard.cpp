#include "guard.hpp"

#include <netinet/in.h>

#include <cerrno>

#include "real.hpp"
#include "sockaddr.hpp"
#include "state.hpp"

namespace bindguard::shim {
namespace {

// What the kernel says about a socket, as far as the policy needs it.
struct SocketFacts {
    int type = 0;                        // SO_TYPE
    Protocol protocol = Protocol::other;  // tcp (incl. MPTCP), udp (incl. UDP-Lite), other
    bool v6only = false;                 // IPV6_V6ONLY of an AF_INET6 socket
};

// An int socket option, or false if getsockopt fails (errno may change).
bool int_option(int fd, int level, int name, int& value) noexcept {
    socklen_t length = sizeof value;
    value = 0;
    return getsockopt(fd, level, name, &value, &length) == 0;
}

// SO_DOMAIN of fd; false for anything that is not a socket (EBADF, ENOTSOCK).
bool socket_domain(int fd, int& domain) noexcept { return int_option(fd, SOL_SOCKET, SO_DOMAIN, domain); }

SocketFacts socket_facts(int fd, int domain) noexcept {
    SocketFacts facts;
    int protocol = 0;
    int_option(fd, SOL_SOCKET, SO_TYPE, facts.type);
    int_option(fd, SOL_SOCKET, SO_PROTOCOL, protocol);
    if (facts.type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP))
        facts.protocol = Protocol::tcp;
    else if (facts.type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE))
        facts.protocol = Protocol::udp;
    if (domain == AF_INET6) {
        int v6only = 0;
        int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
        facts.v6only = v6only != 0;
    }
    return facts;
}

// The decision for request: the policy's, or the bootstrap one without state.
Decision decide_for(const State* state, const Request& request) noexcept {
    return state != nullptr ? decide(state->policy, request) : bootstrap_decision(request);
}

bool audit_mode(const State* state) noexcept { return state != nullptr && state->policy.mode == Mode::audit; }

// Logs one decision, with the socket's address after a successful call (only
// looked up when the line will be written).
void log_decision(const State* state, const char* call, const Request& request, const Decision& decision,
                  bool audit, int error, int fd) noexcept {
    if (state == nullptr || !state->logger.enabled(level_of(decision))) return;
    LogRecord record;
    record.call = call;
    record.request = &request;
    record.decision = decision;
    record.audit = audit;
    record.error = error;
    Endpoint bound;
    if (error == 0 && local_address(fd, bound)) record.bound = &bound;
    state->logger.log(record);
}

// Calls the real bind() with endpoint. 0, or -1 with errno.
int bind_endpoint(int fd, const Endpoint& endpoint) noexcept {
    sockaddr_storage target;
    const socklen_t length = write_sockaddr(endpoint, target);
    return real_bind(fd, reinterpret_cast<const sockaddr*>(&target), length);
}

// The end of every guarded call: result 0 restores the caller's errno, -1 sets error.
int finish(int result, int error, int saved_errno) noexcept {
    errno = result == 0 ? saved_errno : error;
    return result;
}

}  // namespace

int guarded_bind(int fd, const sockaddr* addr, socklen_t len, const char* call) noexcept {
    const int saved_errno = errno;
    int domain = 0;
    Endpoint requested;
    if (addr == nullptr || !socket_domain(fd, domain) || !read_bind_address(addr, len, domain, requested)) {
        errno = saved_errno;
        return real_bind(fd, addr, len);  // the kernel's own answer, untouched
    }
    const SocketFacts facts = socket_facts(fd, domain);
    const State* state = process_state();
    const Request request = make_request(state, requested, facts.protocol, facts.v6only);
    const Decision decision = decide_for(state, request);
    const bool audit = audit_mode(state);

    int result;
    int error = 0;
    if (audit || decision.action == Action::allow) {
        errno = saved_errno;
        result = real_bind(fd, addr, len);
        if (result != 0) error = errno;
    } else if (decision.action == Action::deny) {
        result = -1;
        error = EACCES;
    } else {
        result = bind_endpoint(fd, decision.address);
        if (result != 0) error = errno;
    }
    log_decision(state, call, request, decision, audit, error, fd);
    return finish(result, error, saved_errno);
}

int guarded_listen(int fd, int backlog) noexcept {
    const int saved_errno = errno;
    auto pass_through = [&] {
        errno = saved_errno;
        return real_listen(fd, backlog);
    };
    int domain = 0;
    Endpoint local;
    if (!socket_domain(fd, domain) || (domain != AF_INET && domain != AF_INET6) || !local_address(fd, local))
        return pass_through();
    const SocketFacts facts = socket_facts(fd, domain);
    if (facts.type != SOCK_STREAM) return pass_through();
    // A connected socket cannot listen; let the kernel say so (EINVAL).
    sockaddr_storage peer;
    socklen_t peer_length = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0) return pass_through();

    const State* state = process_state();
    const Request request = make_request(state, local, facts.protocol, facts.v6only);
    const Decision decision = decide_for(state, request);
    const bool audit = audit_mode(state);
    const bool never_bound = local.port == 0 && is_wildcard(local);

    // A socket already bound somewhere the policy would have changed was bound
    // by a route we never saw (inherited, raw syscall): it must not listen there.
    Decision enforced = decision;
    if (enforced.action == Action::rewrite && !never_bound) {
        enforced.action = Action::deny;
        enforced.address = local;
    }

    int result;
    int error = 0;
    if (audit || enforced.action == Action::allow) {
        errno = saved_errno;
        result = real_listen(fd, backlog);  // never bound: the kernel binds the wildcard
        if (result != 0) error = errno;
    } else if (enforced.action == Action::deny) {
        result = -1;
        error = EACCES;
    } else {
        result = bind_endpoint(fd, enforced.address);  // never bound: loopback, port 0
        if (result == 0) result = real_listen(fd, backlog);
        if (result != 0) error = errno;
    }
    log_decision(state, "listen", request, enforced, audit, error, fd);
    return finish(result, error, saved_errno);
}

}  // namespace bindguard::shim
