#include "guard.hpp"

#include <netinet/in.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "real.hpp"
#include "sockaddr.hpp"
#include "state.hpp"

namespace bindguard::shim {
namespace {

// An int socket option, or false if getsockopt fails (errno may change).
bool int_option(int fd, int level, int name, int& value) noexcept {
    socklen_t length = sizeof value;
    value = 0;
    return getsockopt(fd, level, name, &value, &length) == 0;
}

// SO_DOMAIN of fd; false for anything that is not a socket (EBADF, ENOTSOCK).
bool socket_domain(int fd, int& domain) noexcept { return int_option(fd, SOL_SOCKET, SO_DOMAIN, domain); }

// SO_TYPE of fd, or 0 when it cannot be read.
int socket_type(int fd) noexcept {
    int type = 0;
    int_option(fd, SOL_SOCKET, SO_TYPE, type);
    return type;
}

// The policy's protocol of a socket of type: tcp (incl. MPTCP), udp (incl. UDP-Lite), other.
Protocol socket_protocol(int fd, int type) noexcept {
    int protocol = 0;
    int_option(fd, SOL_SOCKET, SO_PROTOCOL, protocol);
    if (type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP))
        return Protocol::tcp;
    if (type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE))
        return Protocol::udp;
    return Protocol::other;
}

// IPV6_V6ONLY of an AF_INET6 socket (false for AF_INET).
bool socket_v6only(int fd, int family) noexcept {
    int v6only = 0;
    return family == AF_INET6 && int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only) && v6only != 0;
}

// Fills in request.protocol and request.v6only from the socket. With complete = false
// only the facts the decision depends on are asked (each is a system call): the
// protocol when a rule filters on it or for the UDP-ephemeral clause (wildcard, port
// 0); IPV6_V6ONLY only for '::', whose rewrite target depends on it. Facts not asked
// are left as tcp / false, which then do not change the decision.
void read_socket_facts(int fd, const State* state, Request& request, bool complete) noexcept {
    const Endpoint& address = request.address;
    const bool wildcard = is_wildcard(address);
    const bool need_protocol =
        complete || state == nullptr || state->rules_on_protocol ||
        (address.port == 0 && wildcard && state->policy.udp_ephemeral == UdpEphemeral::allow);
    if (need_protocol) {
        const int type = socket_type(fd);
        // Without protocol rules only "is it UDP?" matters: SO_PROTOCOL for datagrams only.
        const bool exact = complete || state == nullptr || state->rules_on_protocol || type == SOCK_DGRAM;
        request.protocol = exact ? socket_protocol(fd, type) : type == SOCK_STREAM ? Protocol::tcp : Protocol::other;
    }
    if (complete || wildcard) request.v6only = socket_v6only(fd, address.family);
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
    auto pass_through = [&] {
        errno = saved_errno;
        return real_bind(fd, addr, len);  // the kernel's own answer, untouched
    };
    if (addr == nullptr || len < sizeof(sa_family_t)) return pass_through();
    // The family is taken from the address, not asked of the socket (a system call
    // saved on every bind); only AF_UNSPEC needs the socket's own (see sockaddr.hpp).
    sa_family_t family;
    std::memcpy(&family, reinterpret_cast<const char*>(addr) + offsetof(sockaddr, sa_family), sizeof family);
    int domain = family;
    if (family == AF_UNSPEC && !socket_domain(fd, domain)) return pass_through();
    Endpoint requested;
    if (!read_bind_address(addr, len, domain, requested)) return pass_through();

    const State* state = process_state();
    // Loopback under a policy that allows it without a word: nothing to decide.
    if (state != nullptr && state->loopback_unlogged_allow && is_loopback(requested)) return pass_through();

    Request request = make_request(state, requested, Protocol::tcp, false);
    read_socket_facts(fd, state, request, false);
    const Decision decision = decide_for(state, request);
    const bool audit = audit_mode(state);
    const bool logged = state != nullptr && state->logger.enabled(level_of(decision));
    // A refusal or a failed rewrite of an address whose family is not the socket's
    // (or of something that is not a socket) gets the kernel's own answer instead.
    auto foreign = [&] {
        int actual = 0;
        return !socket_domain(fd, actual) || actual != domain;
    };

    int result;
    int error = 0;
    if (audit || decision.action == Action::allow) {
        errno = saved_errno;
        result = real_bind(fd, addr, len);
        if (result != 0) error = errno;
    } else if (decision.action == Action::deny) {
        if (foreign()) return pass_through();
        result = -1;
        error = EACCES;
    } else {
        result = bind_endpoint(fd, decision.address);
        if (result != 0) {
            error = errno;
            if (foreign()) return pass_through();
        }
    }
    if (logged) {
        read_socket_facts(fd, state, request, true);  // the log line names the real protocol
        log_decision(state, call, request, decision, audit, error, fd);
    }
    return finish(result, error, saved_errno);
}

int guarded_listen(int fd, int backlog) noexcept {
    const int saved_errno = errno;
    auto pass_through = [&] {
        errno = saved_errno;
        return real_listen(fd, backlog);
    };
    // getsockname fails for what is not a socket, and gives the family.
    Endpoint local;
    if (!local_address(fd, local)) return pass_through();
    const State* state = process_state();
    const bool never_bound = local.port == 0 && is_wildcard(local);
    // Already on loopback under a policy that allows it without a word.
    if (state != nullptr && state->loopback_unlogged_allow && !never_bound && is_loopback(local))
        return pass_through();
    const int type = socket_type(fd);
    if (type != SOCK_STREAM) return pass_through();
    // A connected socket cannot listen; let the kernel say so (EINVAL).
    sockaddr_storage peer;
    socklen_t peer_length = sizeof peer;
    if (!never_bound && getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0)
        return pass_through();

    Request request = make_request(state, local, socket_protocol(fd, type), false);
    request.v6only = socket_v6only(fd, local.family);
    const Decision decision = decide_for(state, request);
    const bool audit = audit_mode(state);

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
