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

// What asking the kernel about a socket gave: the answer; "not a socket" (EBADF,
// ENOTSOCK: the call goes to the kernel, which gives its own error); or a failure
// that says nothing about the socket (EPERM from a seccomp filter, ENOMEM, ...),
// which must be decided fail-closed, never taken as "not a socket".
enum class Query { ok, not_socket, failed };

// The Query for a call that returned ok, judged by errno when it did not.
Query query_result(bool ok) noexcept {
    if (ok) return Query::ok;
    return errno == EBADF || errno == ENOTSOCK ? Query::not_socket : Query::failed;
}

// The worse of two Query results (failed > not_socket > ok).
Query worse(Query a, Query b) noexcept { return a > b ? a : b; }

// An int socket option into value (0 when it cannot be read). errno may change.
Query int_option(int fd, int level, int name, int& value) noexcept {
    socklen_t length = sizeof value;
    value = 0;
    return query_result(getsockopt(fd, level, name, &value, &length) == 0);
}

// SO_DOMAIN of fd.
Query socket_domain(int fd, int& domain) noexcept { return int_option(fd, SOL_SOCKET, SO_DOMAIN, domain); }

// SO_TYPE of fd (0 when it cannot be read).
Query socket_type(int fd, int& type) noexcept { return int_option(fd, SOL_SOCKET, SO_TYPE, type); }

// The policy's protocol of a socket of type (protocol_of() in sockaddr.hpp).
Query socket_protocol(int fd, int type, Protocol& out) noexcept {
    int protocol = 0;
    const Query query = int_option(fd, SOL_SOCKET, SO_PROTOCOL, protocol);
    out = protocol_of(type, protocol);
    return query;
}

// IPV6_V6ONLY of an AF_INET6 socket (false for AF_INET).
Query socket_v6only(int fd, int family, bool& v6only) noexcept {
    v6only = false;
    if (family != AF_INET6) return Query::ok;
    int value = 0;
    const Query query = int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, value);
    v6only = value != 0;
    return query;
}

// Fills in request.protocol and request.v6only from the socket. With complete = false
// only the facts the decision depends on are asked (each is a system call): the
// protocol when a rule filters on it or for the UDP-ephemeral clause (wildcard, port
// 0); IPV6_V6ONLY only for '::', whose rewrite target depends on it. Facts not asked
// are left as tcp / false, which then do not change the decision. Returns the worst
// Query of the questions asked.
Query read_socket_facts(int fd, const State* state, Request& request, bool complete) noexcept {
    const Endpoint& address = request.address;
    const bool wildcard = is_wildcard(address);
    const bool need_protocol =
        complete || state == nullptr || state->rules_on_protocol ||
        (address.port == 0 && wildcard && state->policy.image().udp_ephemeral() == UdpEphemeral::allow);
    Query query = Query::ok;
    if (need_protocol) {
        int type = 0;
        query = socket_type(fd, type);
        // Without protocol rules only "is it UDP?" matters: SO_PROTOCOL for datagrams only.
        const bool exact = complete || state == nullptr || state->rules_on_protocol || type == SOCK_DGRAM;
        if (exact) query = worse(query, socket_protocol(fd, type, request.protocol));
        else request.protocol = type == SOCK_STREAM ? Protocol::tcp : Protocol::other;
    }
    if (complete || wildcard) query = worse(query, socket_v6only(fd, address.family, request.v6only));
    return query;
}

// The decision when a fact it depends on could not be read: deny (rule "fail-closed").
Decision fail_closed(const Request& request) noexcept {
    Decision decision;
    decision.action = Action::deny;
    decision.address = request.address;
    decision.rule = "fail-closed";
    return decision;
}

// The decision for request: the policy's, or the bootstrap one without state.
Decision decide_for(const State* state, const Request& request) noexcept {
    return state != nullptr ? state->policy.decide(request) : bootstrap_decision(request);
}

bool audit_mode(const State* state) noexcept { return state != nullptr && state->policy.image().mode() == Mode::audit; }

// Logs one decision, with the socket's address after a successful call (only
// looked up when the line will be written).
void log_decision(const State* state, const char* call, const Request& request, const Decision& decision,
                  bool audit, int error, int fd, const char* note = nullptr) noexcept {
    if (state == nullptr || !state->logger.enabled(level_of(decision))) return;
    LogRecord record;
    record.call = call;
    record.request = &request;
    record.decision = decision;
    record.audit = audit;
    record.error = error;
    record.note = note;
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

// True when an address of family domain does not fit the socket fd (or fd is not a
// socket): a refusal, or a failed rewrite, then gets the kernel's own answer to
// the original call instead. Not foreign: an AF_INET address on an AF_INET6 SCTP
// socket (SCTP binds it), and anything on a socket that cannot be asked (the
// refusal stands).
bool foreign(int fd, int domain) noexcept {
    int actual = 0;
    const Query query = socket_domain(fd, actual);
    if (query != Query::ok) return query == Query::not_socket;
    if (actual == domain) return false;
    if (actual == AF_INET6 && domain == AF_INET) {
        int protocol = 0;
        const Query asked = int_option(fd, SOL_SOCKET, SO_PROTOCOL, protocol);
        if (asked != Query::ok) return asked == Query::not_socket;
        return protocol != IPPROTO_SCTP;
    }
    return true;
}

// The short way for the most common bind under a policy whose answer is known
// without a request (State::public_ipv4_rewrite: rewrites_every_public_ipv4_bind()
// in enforce mode, rewrites not logged): an AF_INET address that is not loopback,
// with a port, goes to loopback_ipv4 at once, as decide() would send it. Returns
// false, with nothing done, for any other bind (the caller decides it in full);
// true when it made the call, with the result in result (0, or -1 with errno set).
bool rewrite_public_ipv4(int fd, const sockaddr* addr, socklen_t len, const State* state, int saved_errno,
                         int& result) noexcept {
    if (state == nullptr || !state->public_ipv4_rewrite) return false;
    if (len < sizeof(sockaddr_in) || len > sizeof(sockaddr_storage)) return false;  // the kernel's EINVAL
    sockaddr_in asked;
    std::memcpy(&asked, addr, sizeof asked);
    if (asked.sin_port == 0 || reinterpret_cast<const unsigned char*>(&asked.sin_addr)[0] == 127) return false;
    sockaddr_in target{};
    target.sin_family = AF_INET;
    target.sin_port = asked.sin_port;
    std::memcpy(&target.sin_addr, state->policy.image().header().settings.loopback_ipv4, sizeof target.sin_addr);
    if (real_bind(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0) {
        result = finish(0, 0, saved_errno);
        return true;
    }
    const int error = errno;
    if (foreign(fd, AF_INET)) {
        errno = saved_errno;
        result = real_bind(fd, addr, len);
        return true;
    }
    result = finish(-1, error, saved_errno);
    return true;
}

// SCTP_SOCKOPT_BINDX_ADD of linux/sctp.h (level SOL_SCTP, which is IPPROTO_SCTP).
constexpr int kSctpBindxAdd = 100;

// What the bindx check carries while it walks the addresses: the first address
// the policy does not allow as it is, and its decision.
struct BindxCheck {
    const State* state = nullptr;
    bool v6only = false;
    bool facts_unknown = false;  // the socket could not be asked: the first address is refused
    bool refused = false;
    Request request;
    Decision decision;
};

// Visitor of for_each_bindx_address(): true to go on (this address is allowed).
bool check_bindx_address(const Endpoint& address, void* context) noexcept {
    auto& check = *static_cast<BindxCheck*>(context);
    Request request = make_request(check.state, address, Protocol::tcp, check.v6only && address.family == AF_INET6);
    const Decision decision = check.facts_unknown ? fail_closed(request) : decide_for(check.state, request);
    if (decision.action == Action::allow) return true;
    check.refused = true;
    check.request = request;
    check.decision = decision;
    return false;
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
    // The state is asked for once per bind; for other families (AF_UNIX) only
    // once the address turns out to be an IP one.
    const State* state = nullptr;
    if (family == AF_INET) {
        state = process_state();
        int result = 0;
        if (rewrite_public_ipv4(fd, addr, len, state, saved_errno, result)) return result;
    }
    int domain = family;
    bool facts_unknown = false;
    if (family == AF_UNSPEC) {
        const Query query = socket_domain(fd, domain);
        if (query == Query::not_socket) return pass_through();
        // The socket cannot be asked: read the address as the one AF_UNSPEC form
        // the kernel binds (AF_INET 0.0.0.0) and decide it fail-closed.
        if (query == Query::failed) {
            domain = AF_INET;
            facts_unknown = true;
        }
    }
    Endpoint requested;
    if (!read_bind_address(addr, len, domain, requested)) return pass_through();

    if (family != AF_INET) state = process_state();
    // Loopback under a policy that allows it without a word: nothing to decide.
    if (state != nullptr && state->loopback_unlogged_allow && is_loopback(requested)) return pass_through();

    Request request = make_request(state, requested, Protocol::tcp, false);
    const Query facts = read_socket_facts(fd, state, request, false);
    if (facts == Query::not_socket) return pass_through();
    facts_unknown = facts_unknown || facts == Query::failed;
    const Decision decision = facts_unknown ? fail_closed(request) : decide_for(state, request);
    const bool audit = audit_mode(state);
    const bool logged = state != nullptr && state->logger.enabled(level_of(decision));

    int result;
    int error = 0;
    if (audit || decision.action == Action::allow) {
        errno = saved_errno;
        result = real_bind(fd, addr, len);
        if (result != 0) error = errno;
    } else if (decision.action == Action::deny) {
        if (foreign(fd, domain)) return pass_through();
        result = -1;
        error = EACCES;
    } else {
        result = bind_endpoint(fd, decision.address);
        if (result != 0) {
            error = errno;
            if (foreign(fd, domain)) return pass_through();
        }
    }
    if (logged) {
        // The log line names the real protocol, when it can be read.
        Request complete = request;
        if (!facts_unknown && read_socket_facts(fd, state, complete, true) == Query::ok) request = complete;
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
    // getsockname fails for what is not a socket, and gives the family. When it
    // fails for another reason (a seccomp filter) nobody can tell where the socket
    // would listen: refused, without a log line (there is no address to name).
    sockaddr_storage storage{};
    socklen_t storage_length = sizeof storage;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &storage_length) != 0) {
        if (query_result(false) == Query::not_socket) return pass_through();
        return finish(-1, EACCES, saved_errno);
    }
    Endpoint local;
    if (!read_kernel_address(storage, storage_length, local)) return pass_through();  // not AF_INET/AF_INET6
    const State* state = process_state();
    const bool never_bound = local.port == 0 && is_wildcard(local);
    // Already on loopback under a policy that allows it without a word.
    if (state != nullptr && state->loopback_unlogged_allow && !never_bound && is_loopback(local))
        return pass_through();
    int type = 0;
    Query query = socket_type(fd, type);
    if (query == Query::not_socket) return pass_through();
    // Only stream sockets (TCP, MPTCP, SCTP) and SCTP's SOCK_SEQPACKET listen; the
    // kernel answers the others (EOPNOTSUPP).
    if (query == Query::ok && !can_listen(type)) return pass_through();
    // A connected socket cannot listen; let the kernel say so (EINVAL).
    sockaddr_storage peer;
    socklen_t peer_length = sizeof peer;
    if (!never_bound && getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_length) == 0)
        return pass_through();

    Request request = make_request(state, local, Protocol::tcp, false);
    if (query == Query::ok) query = socket_protocol(fd, type, request.protocol);
    else request.protocol = Protocol::other;  // unknown: logged as "other"
    query = worse(query, socket_v6only(fd, local.family, request.v6only));
    if (query == Query::not_socket) return pass_through();
    const Decision decision = query == Query::failed ? fail_closed(request) : decide_for(state, request);
    const bool audit = audit_mode(state);

    // A socket already bound somewhere the policy would have changed was bound
    // by a route we never saw (inherited, raw syscall): it must not listen there.
    Decision enforced = decision;
    if (enforced.action == Action::rewrite && !never_bound) {
        enforced.action = Action::deny;
        enforced.address = local;
    }
    // A refused socket that already listens (inherited from a parent that made it
    // listen: socket activation, Node's listen({fd})) keeps listening whatever we
    // answer; the log line says so instead of pretending it was stopped.
    const char* note = nullptr;
    int accepting = 0;
    if (enforced.action == Action::deny && !never_bound &&
        int_option(fd, SOL_SOCKET, SO_ACCEPTCONN, accepting) == Query::ok && accepting != 0)
        note = "already-listening";

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
    log_decision(state, "listen", request, enforced, audit, error, fd, note);
    return finish(result, error, saved_errno);
}

int guarded_setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept {
    if (level != IPPROTO_SCTP || name != kSctpBindxAdd) return real_setsockopt(fd, level, name, value, length);
    const int saved_errno = errno;
    auto pass_through = [&] {
        errno = saved_errno;
        return real_setsockopt(fd, level, name, value, length);
    };
    int protocol = 0;
    int domain = 0;
    Query query = worse(int_option(fd, SOL_SOCKET, SO_PROTOCOL, protocol), socket_domain(fd, domain));
    if (query == Query::not_socket) return pass_through();
    if (query == Query::ok && protocol != IPPROTO_SCTP) return pass_through();  // the kernel: ENOPROTOOPT
    BindxCheck check;
    check.state = process_state();
    if (query == Query::ok) query = socket_v6only(fd, domain, check.v6only);
    check.facts_unknown = query != Query::ok;
    if (!for_each_bindx_address(value, length, check_bindx_address, &check)) return pass_through();  // EINVAL
    if (!check.refused) return pass_through();
    const bool audit = audit_mode(check.state);
    if (audit) {
        errno = saved_errno;
        const int result = real_setsockopt(fd, level, name, value, length);
        const int error = result == 0 ? 0 : errno;
        log_decision(check.state, "sctp_bindx", check.request, check.decision, true, error, -1);
        return finish(result, error, saved_errno);
    }
    // An address array is not rewritten: what the policy would rewrite is refused.
    Decision enforced = check.decision;
    enforced.action = Action::deny;
    enforced.address = check.request.address;
    log_decision(check.state, "sctp_bindx", check.request, enforced, false, EACCES, -1);
    return finish(-1, EACCES, saved_errno);
}

}  // namespace bindguard::shim
