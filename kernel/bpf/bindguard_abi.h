/* The layout shared by the BPF programs (bindguard.bpf.c) and the command (kernel/src):
 * one compiled rule set per protected cgroup, the record a bind leaves on its socket,
 * and the event carried to user space. Plain C, fixed-width types only, so that both
 * compilers (clang -target bpf and the host's) lay it out identically.
 *
 * Addresses are kept in IPv6 form: an IPv4 address a.b.c.d is ::ffff:a.b.c.d, and an
 * IPv4 CIDR of prefix p is the v4-mapped CIDR of prefix 96 + p. That is what makes an
 * IPv4 rule match v4-mapped addresses, as decide() does. */
#ifndef BINDGUARD_KERNEL_ABI_H
#define BINDGUARD_KERNEL_ABI_H

#include <linux/types.h>

/* Bump when anything below changes: pinned programs of another layout are refused. */
#define BG_ABI_VERSION 4

#define BG_MAX_ENTRIES 256   /* (address x port range) pairs of all rules of one cgroup */
#define BG_MAX_CGROUPS 4096  /* protected cgroups at once */
#define BG_MAX_LEVELS 32     /* cgroup nesting searched for a rule set */
#define BG_RING_BYTES (256 * 1024) /* each protected cgroup's event ring buffer */

/* Protocols (of a request, or a rule's filter). */
#define BG_PROTO_ANY 0
#define BG_PROTO_TCP 1
#define BG_PROTO_UDP 2
#define BG_PROTO_OTHER 3

/* Actions, in decide()'s order. */
#define BG_ACTION_ALLOW 0
#define BG_ACTION_REWRITE 1
#define BG_ACTION_DENY 2

/* What an entry's address filter is. */
#define BG_ADDR_ANY 0  /* no address filter */
#define BG_ADDR_V4 1   /* an IPv4 CIDR: matches AF_INET and v4-mapped AF_INET6 addresses */
#define BG_ADDR_V6 2   /* an IPv6 CIDR: matches AF_INET6 addresses only */

/* Which clause decided, when no rule did (a rule's index otherwise). */
#define BG_RULE_LOOPBACK 0xffffu
#define BG_RULE_UDP_EPHEMERAL 0xfffeu
#define BG_RULE_DEFAULT 0xfffdu
#define BG_RULE_NO_POLICY 0xfffcu /* a socket of a protected cgroup, used outside any: fail closed */

/* One (rule, address filter, port range) triple. A rule with n CIDRs and m port ranges
 * becomes n*m consecutive entries; first match wins across all of them, as it does
 * across rules. */
struct bg_entry {
    __u32 addr[4];  /* masked, IPv6 form, network byte order */
    __u32 mask[4];
    __u16 port_first; /* host byte order, inclusive */
    __u16 port_last;
    __u16 rule;       /* index of the rule in the policy, for the log */
    __u8 address_kind;
    __u8 protocol;
    __u8 action;
    __u8 pad[3];
};

struct bg_policy {
    __u32 abi;             /* BG_ABI_VERSION */
    __u32 count;           /* entries used */
    __u8 audit;            /* mode = "audit": decide and report, change nothing */
    __u8 default_action;
    __u8 udp_ephemeral_allow;
    __u8 dual_stack_ipv4;  /* '::' on a dual-stack socket goes to ::ffff:<loopback4> */
    __u8 log_all;          /* log.level = "debug": report allowed binds too */
    __u8 logged;           /* [log] wants the decisions (wants_log()): the cgroup has a ring buffer */
    __u8 pad[2];
    __u64 dropped;         /* this cgroup's events its full ring buffer dropped (the programs
                              count, atomically; the relay reports them in the log) */
    __u32 loopback4;       /* network byte order */
    __u32 loopback6[4];    /* network byte order */
    char label[512];       /* for `bindguard kernel status` only: "service=... program=... policy=..." */
    struct bg_entry entries[BG_MAX_ENTRIES];
};

/* Left on a socket by the bind hooks: where the bind was sent. The listen hook
 * confines a listener whose address did not come through a bind hook. */
struct bg_bound {
    __u32 addr[4]; /* IPv6 form */
    __u16 port;    /* host byte order; 0: the kernel picks */
    __u16 pad;
};

/* What happened, for the log (calls). */
#define BG_CALL_BIND 0
#define BG_CALL_LISTEN 1

struct bg_event {
    __u64 cgroup;       /* the cgroup whose rule set decided (0: none) */
    __u32 pid;          /* thread group id */
    __u16 rule;         /* rule index or BG_RULE_* */
    __u8 call;
    __u8 action;        /* BG_ACTION_*; for listen: rewrite means "confined to lo" */
    __u8 audit;
    __u8 protocol;      /* BG_PROTO_TCP/UDP/OTHER */
    __u8 family;        /* AF_INET or AF_INET6 of the request */
    __u8 v6only;
    __u32 requested[4]; /* IPv6 form */
    __u32 result[4];    /* IPv6 form: the rewrite target */
    __u16 requested_port;
    __u16 result_port;
    __s32 error;        /* errno given to the program (EACCES), 0 */
    char comm[16];
};

/* Entries of the array "bg_info". */
#define BG_INFO_ABI 0
#define BG_INFO_BUILD 1
#define BG_INFO_COUNT 2

/* Counters in the per-CPU array "bg_stats". */
#define BG_STAT_EVENTS 0
#define BG_STAT_DROPPED 1
#define BG_STAT_COUNT 2

#endif
