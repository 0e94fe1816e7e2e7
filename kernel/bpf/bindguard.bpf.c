/* The kernel twin of decide(): cgroup/bind4 and cgroup/bind6 programs that apply a
 * protected cgroup's compiled rule set to every bind made by its processes (libc,
 * raw system call or io_uring alike), and a sockops program that confines to the
 * loopback device a TCP listener whose address never came through a bind (listen()
 * on a never-bound socket: the kernel's auto-bind runs no bind hook).
 *
 * Return convention of the cgroup programs: 1 lets the (possibly rewritten) bind
 * proceed; 0 refuses it, with the error set by bpf_set_retval (EACCES). */
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bindguard_abi.h"

/* From the socket headers, which do not build for the BPF target. */
#define AF_UNSPEC 0
#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_UDPLITE 136
#define IPPROTO_MPTCP 262
#define SOL_SOCKET 1
#define SO_BINDTODEVICE 25
#define SOL_IPV6 41
#define IPV6_V6ONLY 26
#define EACCES 13

char LICENSE[] SEC("license") = "GPL";

/* The one kernel-internal field read here: IPV6_V6ONLY of a socket, which bpf_getsockopt()
 * does not give. Declared with only that field; libbpf relocates the access (CO-RE)
 * against the running kernel's BTF. tcp6_sock and udp6_sock begin with struct sock,
 * which begins with struct sock_common. */
struct sock_common {
    unsigned char skc_ipv6only : 1;
} __attribute__((preserve_access_index));
struct sock {
    struct sock_common __sk_common;
} __attribute__((preserve_access_index));
struct tcp6_sock;
struct udp6_sock;

/* cgroup id -> its compiled rule set (written by `bindguard run --kernel`). */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(max_entries, BG_MAX_CGROUPS);
    __type(key, __u64);
    __type(value, struct bg_policy);
} bg_policies SEC(".maps");

/* Per socket: where a bind hook sent it. */
struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct bg_bound);
} bg_bound SEC(".maps");

/* Decisions for the log: one ring buffer per protected cgroup (made by the command and
 * read by that cgroup's relay), found by cgroup id. A full buffer drops the event
 * (counted), never delays or fails the bind. */
struct bg_ring {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, BG_RING_BYTES);
};
struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __uint(max_entries, BG_MAX_CGROUPS);
    __type(key, __u64);
    __array(values, struct bg_ring);
} bg_rings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, BG_STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} bg_stats SEC(".maps");

/* For the command to check: BG_ABI_VERSION of the loaded programs (BG_INFO_ABI) and a hash
 * of the object they were loaded from (BG_INFO_BUILD). */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, BG_INFO_COUNT);
    __type(key, __u32);
    __type(value, __u32);
} bg_info SEC(".maps");

/* One bind, as decide() sees it. */
struct request {
    __u32 addr[4]; /* IPv6 form */
    __u16 port;    /* host byte order */
    __u8 family;   /* AF_INET or AF_INET6 */
    __u8 protocol; /* BG_PROTO_TCP/UDP/OTHER */
    __u8 v6only;
};

struct decision {
    __u32 addr[4]; /* the rewrite target, IPv6 form */
    __u16 rule;
    __u8 action;
};

/* The state of the search through a rule set (bpf_loop's context). */
struct search {
    const struct bg_policy *policy;
    const struct request *request;
    __u32 found; /* index of the first matching entry, or BG_MAX_ENTRIES */
};

static __always_inline void count(__u32 which) {
    __u64 *value = bpf_map_lookup_elem(&bg_stats, &which);
    if (value) *value += 1;
}

static __always_inline int is_v4_mapped(const __u32 *a) {
    return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

/* 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104. */
static __always_inline int is_loopback(const struct request *r) {
    if (r->family == AF_INET || is_v4_mapped(r->addr)) return (bpf_ntohl(r->addr[3]) >> 24) == 127;
    return r->addr[0] == 0 && r->addr[1] == 0 && r->addr[2] == 0 && r->addr[3] == bpf_htonl(1);
}

/* 0.0.0.0, ::, ::ffff:0.0.0.0. */
static __always_inline int is_wildcard(const struct request *r) {
    if (r->family == AF_INET || is_v4_mapped(r->addr)) return r->addr[3] == 0;
    return r->addr[0] == 0 && r->addr[1] == 0 && r->addr[2] == 0 && r->addr[3] == 0;
}

/* The policy's protocol of a socket: tcp (incl. MPTCP), udp (incl. UDP-Lite), other. */
static __always_inline __u8 protocol_of(__u32 type, __u32 protocol) {
    if (type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP))
        return BG_PROTO_TCP;
    if (type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE))
        return BG_PROTO_UDP;
    return BG_PROTO_OTHER;
}

/* bpf_loop callback: 1 (stop) at the first entry that matches the request, 0 to go on. */
static long match_entry(__u32 index, void *data) {
    struct search *s = data;
    const struct request *r = s->request;
    if (index >= BG_MAX_ENTRIES) return 1;
    const struct bg_entry *e = &s->policy->entries[index];
    if (e->protocol != BG_PROTO_ANY && e->protocol != r->protocol) return 0;
    if (e->address_kind == BG_ADDR_V6 && r->family != AF_INET6) return 0;
    if (e->address_kind != BG_ADDR_ANY &&
        ((r->addr[0] & e->mask[0]) != e->addr[0] || (r->addr[1] & e->mask[1]) != e->addr[1] ||
         (r->addr[2] & e->mask[2]) != e->addr[2] || (r->addr[3] & e->mask[3]) != e->addr[3]))
        return 0;
    if (r->port < e->port_first || r->port > e->port_last) return 0;
    s->found = index;
    return 1;
}

/* loopback_for(): 127.0.0.1 (in IPv6 form) for AF_INET and v4-mapped; for '::' the
 * dual_stack target unless v6only; ::1 otherwise. */
static __always_inline void loopback_for(const struct bg_policy *p, const struct request *r, __u32 *out) {
    int to_mapped_ipv4 = r->family == AF_INET || is_v4_mapped(r->addr) ||
                         (!r->v6only && is_wildcard(r) && p->dual_stack_ipv4);
    if (to_mapped_ipv4) {
        out[0] = 0;
        out[1] = 0;
        out[2] = bpf_htonl(0xffff);
        out[3] = p->loopback4;
    } else {
        out[0] = p->loopback6[0];
        out[1] = p->loopback6[1];
        out[2] = p->loopback6[2];
        out[3] = p->loopback6[3];
    }
}

/* make_decision(): a rewrite whose target is the address asked for is an allow. */
static __always_inline void make_decision(const struct bg_policy *p, const struct request *r, __u8 action,
                                          __u16 rule, struct decision *d) {
    d->action = action;
    d->rule = rule;
    d->addr[0] = r->addr[0];
    d->addr[1] = r->addr[1];
    d->addr[2] = r->addr[2];
    d->addr[3] = r->addr[3];
    if (action != BG_ACTION_REWRITE) return;
    loopback_for(p, r, d->addr);
    if (d->addr[0] == r->addr[0] && d->addr[1] == r->addr[1] && d->addr[2] == r->addr[2] &&
        d->addr[3] == r->addr[3])
        d->action = BG_ACTION_ALLOW;
}

/* decide(): rules first (first match wins); then loopback is allowed, wildcard UDP port 0
 * is allowed under udp_ephemeral = "allow", everything else gets the default action. */
static __always_inline void decide(const struct bg_policy *p, const struct request *r, struct decision *d) {
    struct search s = {.policy = p, .request = r, .found = BG_MAX_ENTRIES};
    __u32 n = p->count;
    if (n > BG_MAX_ENTRIES) n = BG_MAX_ENTRIES;
    if (n > 0) bpf_loop(n, match_entry, &s, 0);
    if (s.found < BG_MAX_ENTRIES) {
        const struct bg_entry *e = &p->entries[s.found];
        make_decision(p, r, e->action, e->rule, d);
    } else if (is_loopback(r)) {
        make_decision(p, r, BG_ACTION_ALLOW, BG_RULE_LOOPBACK, d);
    } else if (r->protocol == BG_PROTO_UDP && r->port == 0 && is_wildcard(r) && p->udp_ephemeral_allow) {
        make_decision(p, r, BG_ACTION_ALLOW, BG_RULE_UDP_EPHEMERAL, d);
    } else {
        make_decision(p, r, p->default_action, BG_RULE_DEFAULT, d);
    }
}

/* The rule set of the calling task's cgroup, or of its nearest protected ancestor;
 * NULL when there is none. *cgroup receives the id of the cgroup it belongs to. */
static __always_inline struct bg_policy *current_policy(__u64 *cgroup) {
    __u64 id = bpf_get_current_cgroup_id();
    struct bg_policy *found = bpf_map_lookup_elem(&bg_policies, &id);
    if (found) {
        *cgroup = id;
        return found;
    }
    for (int level = 0; level < BG_MAX_LEVELS; level++) {
        __u64 ancestor = bpf_get_current_ancestor_cgroup_id(level);
        if (ancestor == 0) break;
        struct bg_policy *p = bpf_map_lookup_elem(&bg_policies, &ancestor);
        if (p) {
            found = p;
            *cgroup = ancestor;
        }
    }
    return found;
}

/* The decision on r for the calling task, shared by the bind hooks and the listen hook:
 * its cgroup's rule set through decide(), or, when there is none (a socket of a protected
 * cgroup used from outside), fail closed as the library does without a policy: loopback
 * only. Returns the rule set (NULL when none); *cgroup receives the id of the cgroup it
 * belongs to, *audit its mode. */
static __always_inline struct bg_policy *decide_current(const struct request *r, struct decision *d,
                                                        __u64 *cgroup, __u8 *audit) {
    struct bg_policy *p = current_policy(cgroup);
    *audit = 0;
    if (p) {
        *audit = p->audit;
        decide(p, r, d);
        return p;
    }
    d->action = is_loopback(r) ? BG_ACTION_ALLOW : BG_ACTION_DENY;
    d->rule = is_loopback(r) ? BG_RULE_LOOPBACK : BG_RULE_NO_POLICY;
    for (int i = 0; i < 4; i++) d->addr[i] = r->addr[i];
    return NULL;
}

/* An IPv4 address (network byte order) as a request's, in IPv6 form (::ffff:a.b.c.d). */
static __always_inline void set_ipv4(struct request *r, __u32 ip) {
    r->family = AF_INET;
    r->addr[0] = 0;
    r->addr[1] = 0;
    r->addr[2] = bpf_htonl(0xffff);
    r->addr[3] = ip;
}

/* An IPv6 address (network byte order) as a request's. */
static __always_inline void set_ipv6(struct request *r, __u32 a0, __u32 a1, __u32 a2, __u32 a3) {
    r->family = AF_INET6;
    r->addr[0] = a0;
    r->addr[1] = a1;
    r->addr[2] = a2;
    r->addr[3] = a3;
}

/* Reports one decision of the rule set p (of cgroup) on the cgroup's ring buffer; when it
 * is full, the event is dropped and counted, in all and in p->dropped. */
static __always_inline void report(struct bg_policy *p, __u64 cgroup, __u8 call, const struct request *r,
                                   const struct decision *d, __u8 audit, __s32 error) {
    if (!p || !p->logged) return; /* no ring buffer to look up: the common case, log.to = "none" */
    void *ring = bpf_map_lookup_elem(&bg_rings, &cgroup);
    if (!ring) return; /* nobody reads this cgroup's decisions */
    struct bg_event *e = bpf_ringbuf_reserve(ring, sizeof *e, 0);
    if (!e) {
        count(BG_STAT_DROPPED);
        __sync_fetch_and_add(&p->dropped, 1);
        return;
    }
    e->cgroup = cgroup;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    e->rule = d->rule;
    e->call = call;
    e->action = d->action;
    e->audit = audit;
    e->protocol = r->protocol;
    e->family = r->family;
    e->v6only = r->v6only;
    for (int i = 0; i < 4; i++) {
        e->requested[i] = r->addr[i];
        e->result[i] = d->addr[i];
    }
    e->requested_port = r->port;
    e->result_port = r->port;
    e->error = error;
    bpf_get_current_comm(e->comm, sizeof e->comm);
    bpf_ringbuf_submit(e, 0);
    count(BG_STAT_EVENTS);
}

/* Notes on the socket where its bind is going (see bg_bound). Only for a bind that
 * ends on an address other than loopback (allowed as it is, or audit mode): a
 * listener on loopback needs no note (bg_sockops leaves it alone), and the socket
 * storage costs an allocation per socket, which loopback and rewritten binds, nearly
 * all of them, then do not pay. */
static __always_inline void remember_bind(struct bpf_sock_addr *ctx, const __u32 *addr, __u16 port) {
    struct bpf_sock *sk = ctx->sk;
    if (!sk) return;
    struct bg_bound *b = bpf_sk_storage_get(&bg_bound, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!b) return;
    for (int i = 0; i < 4; i++) b->addr[i] = addr[i];
    b->port = port;
}

/* Applies the cgroup's decision to a bind whose request is r (its address set by the
 * caller; the port and protocol are read here); ipv4 is a constant, so that each program
 * touches only its own family's context fields. Returns 1 or 0 (EACCES). */
static __always_inline int enforce(struct bpf_sock_addr *ctx, struct request *r, const int ipv4) {
    r->port = bpf_ntohs((__u16)ctx->user_port);
    r->protocol = protocol_of(ctx->type, ctx->protocol);
    __u64 cgroup = 0;
    __u8 audit = 0;
    struct decision d = {};
    struct bg_policy *p = decide_current(r, &d, &cgroup, &audit);
    /* AF_UNSPEC on an AF_INET socket binds the wildcard and nothing else, and a hook cannot
     * change the family: a rewrite would fail with EAFNOSUPPORT after a log line saying
     * "rewrite". Refused instead (the library, which makes the call itself, rewrites it). */
    if (ipv4 && d.action == BG_ACTION_REWRITE && ctx->user_family == AF_UNSPEC) d.action = BG_ACTION_DENY;
    int logged = d.action != BG_ACTION_ALLOW || (p && p->log_all);
    if (audit || d.action == BG_ACTION_ALLOW) {
        if (logged) report(p, cgroup, BG_CALL_BIND, r, &d, audit, 0);
        if (!is_loopback(r)) remember_bind(ctx, r->addr, r->port);
        return 1;
    }
    if (d.action == BG_ACTION_DENY) {
        report(p, cgroup, BG_CALL_BIND, r, &d, 0, EACCES);
        bpf_set_retval(-EACCES);
        return 0;
    }
    if (ipv4) {
        ctx->user_ip4 = d.addr[3];
    } else {
        ctx->user_ip6[0] = d.addr[0];
        ctx->user_ip6[1] = d.addr[1];
        ctx->user_ip6[2] = d.addr[2];
        ctx->user_ip6[3] = d.addr[3];
    }
    report(p, cgroup, BG_CALL_BIND, r, &d, 0, 0);
    return 1; /* on loopback now: no note needed */
}

/* IPV6_V6ONLY of a TCP or UDP IPv6 socket; 0 (dual-stack) for any other (SCTP, UDP-Lite):
 * for them a rewrite of '::' goes to the dual-stack target, where a v6-only socket's bind
 * then fails (EINVAL) rather than reaching the wildcard. */
static __always_inline __u8 v6only_of(struct bpf_sock *sk) {
    if (!sk) return 0;
    const struct sock *s = (const struct sock *)bpf_skc_to_tcp6_sock(sk);
    if (!s) s = (const struct sock *)bpf_skc_to_udp6_sock(sk);
    if (!s) return 0;
    return BPF_CORE_READ_BITFIELD(&s->__sk_common, skc_ipv6only) != 0;
}

SEC("cgroup/bind4")
int bg_bind4(struct bpf_sock_addr *ctx) {
    struct request r = {};
    __u32 family = ctx->user_family;
    __u32 ip = ctx->user_ip4;
    /* The kernel binds AF_UNSPEC with INADDR_ANY as 0.0.0.0 and refuses any other. */
    if (family != AF_INET && !(family == AF_UNSPEC && ip == 0)) return 1;
    set_ipv4(&r, ip);
    return enforce(ctx, &r, 1);
}

SEC("cgroup/bind6")
int bg_bind6(struct bpf_sock_addr *ctx) {
    struct request r = {};
    if (ctx->user_family != AF_INET6) return 1;
    set_ipv6(&r, ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]);
    r.v6only = v6only_of(ctx->sk);
    return enforce(ctx, &r, 0);
}

/* TCP_LISTEN_CB: a listener whose local address did not come through a bind hook (a
 * never-bound socket the kernel auto-bound to the wildcard) gets the decision of the
 * library's listen() for such a socket (the wildcard, port 0); anything but allow
 * confines it to the loopback device, where no remote host can reach it. */
SEC("sockops")
int bg_sockops(struct bpf_sock_ops *ctx) {
    if (ctx->op != BPF_SOCK_OPS_TCP_LISTEN_CB) return 1;
    struct bpf_sock *sk = ctx->sk;
    __u16 port = (__u16)ctx->local_port;
    if (!sk) return 1;
    /* Every context field is read once, before any branch: the verifier refuses a
     * context pointer that the compiler has moved. */
    __u32 family = ctx->family;
    __u32 ip4 = ctx->local_ip4;
    __u32 ip6_0 = ctx->local_ip6[0], ip6_1 = ctx->local_ip6[1];
    __u32 ip6_2 = ctx->local_ip6[2], ip6_3 = ctx->local_ip6[3];
    struct request r = {};
    if (family == AF_INET) set_ipv4(&r, ip4);
    else if (family == AF_INET6) set_ipv6(&r, ip6_0, ip6_1, ip6_2, ip6_3);
    else return 1;
    if (is_loopback(&r)) return 1; /* no remote host can reach it */
    struct bg_bound *b = bpf_sk_storage_get(&bg_bound, sk, 0, 0);
    if (b && b->addr[0] == r.addr[0] && b->addr[1] == r.addr[1] && b->addr[2] == r.addr[2] &&
        b->addr[3] == r.addr[3] && (b->port == port || b->port == 0))
        return 1; /* bound through a bind hook, which decided */
    r.protocol = BG_PROTO_TCP;
    r.port = is_wildcard(&r) ? 0 : port;

    __u64 cgroup = 0;
    __u8 audit = 0;
    struct decision d = {};
    struct bg_policy *p = decide_current(&r, &d, &cgroup, &audit);
    if (d.action == BG_ACTION_ALLOW) {
        if (p && p->log_all) report(p, cgroup, BG_CALL_LISTEN, &r, &d, audit, 0);
        return 1;
    }
    /* A rewrite or a deny: confined to lo (a listener cannot be refused from here); the
     * event reports the listener's own address. */
    d.action = BG_ACTION_REWRITE;
    for (int i = 0; i < 4; i++) d.addr[i] = r.addr[i];
    r.port = port;
    report(p, cgroup, BG_CALL_LISTEN, &r, &d, audit, 0);
    if (audit) return 1;
    char device[] = "lo";
    bpf_setsockopt(ctx, SOL_SOCKET, SO_BINDTODEVICE, device, sizeof device);
    return 1;
}
