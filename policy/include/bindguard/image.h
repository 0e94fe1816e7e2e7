/* The compiled policy image: the one definition of its layout.
 *
 * `bindguard compile FILE` turns a TOML policy into this image; the preload library
 * maps it (PROT_READ) and decides from it without parsing anything, as ld.so reads
 * ld.so.cache instead of ld.so.conf. The command writes it (policy/src/image_writer.cpp);
 * the library and the command read it through bindguard/image_view.hpp, which checks
 * every offset before it is followed: any bytes are either refused or decided from.
 *
 * Layout: all integers in the byte order of the machine that wrote it (the header
 * names it); every structure has fixed-width fields and explicit padding; every
 * section starts on an 8-byte boundary. The bytes depend only on the source text and
 * its identity: two compiles of one file give the same image.
 *
 *   offset 0    struct bg_image_header (magic, format, arch, size, checksum, the source's
 *               identity, the policy's settings, the section table)
 *   then        the sections, in the order of enum bg_image_section:
 *     strings      NUL-terminated strings; a string is named by its offset here
 *                  (offset 0 is the empty string); the section ends in a NUL
 *     rules        struct bg_image_rule[rule_count], in first-match order
 *     cidrs        struct bg_image_cidr[], the address filters of the rules
 *     ports        struct bg_image_port[], the port filters of the rules
 *     groups       struct bg_image_group[group_count]: groups[0] holds the rules without
 *                  a service filter; groups[1..] one service each, sorted by name
 *                  (bytewise), so that a process finds its own with a binary search
 *     group_rules  uint32_t[]: for each group, the positions of its rules, ascending
 *     keys32       uint32_t[]: interval starts of the IPv4, v4-mapped and port maps
 *     keys128      struct bg_image_key128[]: interval starts of the IPv6 maps
 *     classes      uint32_t[]: the class of each interval
 *     cells        uint32_t[]: per group, the first rule (a position within the group,
 *                  or the group's rule_count for none) of each (address class, port
 *                  class) pair, row-major by address class
 *     nodes        struct bg_image_interval_map[]: the nodes of the groups' segment trees
 *                  (below), each a port map whose classes are rule positions
 *     buckets      uint32_t[]: the first-level tables of the large interval maps (below)
 *
 * Example: the built-in policy (no rules, rewrite) is a header, the strings "" and
 * "<built-in>", and one empty group 0. A policy with the two rules
 *     [[rule]] name = "proxy" action = "allow" service = "proxy" port = ["443"]
 *     [[rule]] name = "dns"   action = "allow" address = ["10.0.0.0/8"] protocol = "udp"
 * has rules[0] (service "proxy", ports {443,443}) and rules[1] (cidr 10.0.0.0/8);
 * groups[0] = {service NONE, rules {1}}, groups[1] = {service "proxy", rules {0}}.
 * A process of service "proxy" asks both groups and takes the lower position.
 *
 * The rule index of a group (the interval maps and the cells): a rule's address, port
 * and protocol filters cut each dimension into intervals; intervals matched by the
 * same rules form one class; cells[a * port_classes + p] is the first rule of the group
 * whose filters match address class a and port class p. A lookup is two binary
 * searches and one read. A port key is protocol * 65536 + port, protocol 0 for TCP,
 * 1 for UDP, 2 for anything else.
 *
 * When that table would be too large (rules with distinct addresses and distinct ports
 * make it quadratic), the group is indexed as segment trees instead (indexed = 2): the
 * address maps' classes are then leaf numbers, one tree per address space; leaf k of a
 * tree is node leaves + k, node i's parent is node i / 2, the root is node 1, and each
 * node is a port map (count 0: no rules there) from port key to the first rule of the
 * group stored at that node. The first rule for an address and a port is the smallest
 * answer of the nodes on the path from its leaf to the root. Example: the rules
 * r0 = 10.0.0.0/8 TCP port 80 and r1 = 10.1.0.0/16 any port cut IPv4 into 5 leaves,
 * [0, 10.0.0.0), [10.0.0.0, 10.1.0.0), [10.1.0.0, 10.2.0.0), [10.2.0.0, 11.0.0.0) and
 * [11.0.0.0, ...), so leaves = 8 and leaf k is node 8 + k. r0 covers leaves 1 to 3: it
 * is stored at node 9 (leaf 1) and node 5 (leaves 2 and 3); r1 covers leaf 2: node 10.
 * TCP 10.1.2.3:80 walks nodes 10, 5, 2, 1; node 10 answers r1, node 5 answers r0,
 * so r0 comes first. A node's `up` is the nearest ancestor that holds rules (0: none),
 * so that the walk skips the empty ones: here node 10's up is 5, node 5's is 0 and a
 * lookup in leaf 0 (node 8, empty, up 0) reads no port map at all.
 *
 * The first-level table of a map (struct bg_image_buckets, count > 0 for maps of 16 keys
 * or more whose keys spread so that no bucket spans more than 8 intervals) makes its
 * lookup one read and a short search, whatever the map's size: the
 * keys from base on are cut into count buckets of 2^shift keys each (of the high 64 bits
 * for IPv6), and buckets[first + b] is the interval that holds bucket b's first key;
 * buckets[first + count] is the map's last interval. A key k >= base lies in the
 * intervals buckets[first + b] .. buckets[first + b + 1], b = (k - base) >> shift; a key
 * below base in interval 0, a key past the last bucket in the last interval. count is
 * the smallest power of two at or above the map's number of keys (at most 65536), shift
 * the smallest that makes count buckets reach the last key. Example (a map smaller than
 * any that gets a table, for the sake of the example): the IPv4 starts 0, 10.0.0.0,
 * 10.0.1.0, 10.0.2.0, 10.0.3.0 give base 10.0.0.0, count 8 and shift 7 (buckets of 128
 * addresses): buckets {1, 1, 2, 2, 3, 3, 4, 4, 4}; 10.0.2.7 is in bucket 4, whose
 * intervals are 3 .. 3: interval 3.
 */
#ifndef BINDGUARD_IMAGE_H
#define BINDGUARD_IMAGE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BG_IMAGE_MAGIC "BGPOLICY" /* 8 bytes, no NUL */
/* Incremented on any change of the layout or of the meaning of a field. */
#define BG_IMAGE_FORMAT 3u
/* "No string" (an unset program, command or service filter; group 0's service). */
#define BG_IMAGE_NONE 0xffffffffu
/* Where a compiled image is looked for beside its source: SOURCE + this suffix. */
#define BG_IMAGE_SUFFIX ".compiled"
/* The images of sources whose directory root cannot write: BG_IMAGE_SYSTEM_CACHE/KEY. */
#define BG_IMAGE_SYSTEM_CACHE "/var/cache/bindguard"

/* The machine an image was written on: its ELF machine number, its pointer size and
 * its byte order. An image is read only where all three are the same. */
#define BG_IMAGE_ARCH_CODE(machine, little_endian) \
    ((uint32_t)(machine) | ((uint32_t)sizeof(void*) << 16) | ((uint32_t)(little_endian) << 24))

enum bg_image_section {
    BG_SECTION_STRINGS,
    BG_SECTION_RULES,
    BG_SECTION_CIDRS,
    BG_SECTION_PORTS,
    BG_SECTION_GROUPS,
    BG_SECTION_GROUP_RULES,
    BG_SECTION_KEYS32,
    BG_SECTION_KEYS128,
    BG_SECTION_CLASSES,
    BG_SECTION_CELLS,
    BG_SECTION_NODES,
    BG_SECTION_BUCKETS,
    BG_SECTION_COUNT
};

struct bg_image_section_ref {
    uint64_t offset; /* from the start of the image; a multiple of 8 */
    uint64_t size;   /* in bytes; a multiple of the element's size */
};

/* The source file's identity when it was compiled (stat(2)), and a hash of its text.
 * The library compares the first five with one stat() of the source: any difference
 * makes the image stale. */
struct bg_image_source {
    uint64_t device;
    uint64_t inode;
    uint64_t size;
    int64_t mtime_sec;
    int64_t mtime_nsec;
    uint64_t content_hash; /* bg_image_hash() of the text; `bindguard check` compares it */
};

/* Settings, each the value of the policy's enum (bindguard/policy.hpp) as a byte. */
struct bg_image_settings {
    uint8_t version;          /* the policy's `version` */
    uint8_t mode;             /* Mode: 0 enforce, 1 audit */
    uint8_t dual_stack;       /* DualStack: 0 ipv4, 1 ipv6 */
    uint8_t default_action;   /* Action: 0 allow, 1 rewrite, 2 deny */
    uint8_t udp_ephemeral;    /* UdpEphemeral: 0 allow, 1 apply */
    uint8_t children_inherit; /* [children] inherit: 0 or 1 */
    uint8_t log_to;           /* LogSink: 0 stderr, 1 file, 2 syslog, 3 none */
    uint8_t log_format;       /* LogFormat: 0 text, 1 json */
    uint8_t log_level;        /* LogLevel: 0 error .. 3 debug */
    uint8_t reserved[3];
    uint32_t log_rate;        /* lines per second, 0 unlimited */
    uint32_t log_path;        /* string */
    uint8_t loopback_ipv4[4];
    uint8_t loopback_ipv6[16];
};

struct bg_image_header {
    uint8_t magic[8];   /* BG_IMAGE_MAGIC */
    uint32_t format;    /* BG_IMAGE_FORMAT */
    uint32_t arch;      /* BG_IMAGE_ARCH_CODE of the writer */
    uint64_t size;      /* of the whole image, header included */
    uint64_t checksum;  /* bg_image_hash() of the bytes after this field, to the end */
    /* ---- covered by the checksum from here on ---- */
    struct bg_image_source source;
    uint32_t source_path; /* string: the absolute path it was compiled from */
    uint32_t rule_count;
    uint32_t group_count;
    uint32_t reserved;
    struct bg_image_settings settings;
    struct bg_image_section_ref sections[BG_SECTION_COUNT];
};

/* The checksum starts right after the checksum field. */
#define BG_IMAGE_CHECKSUM_FROM 32u

struct bg_image_rule {
    uint32_t name;    /* string */
    uint32_t program; /* string (an fnmatch(3) glob), or BG_IMAGE_NONE */
    uint32_t command; /* string (an fnmatch(3) glob), or BG_IMAGE_NONE */
    uint32_t service; /* string, or BG_IMAGE_NONE */
    uint32_t cidr_first, cidr_count; /* cidrs[first, first + count); count 0: any address */
    uint32_t port_first, port_count; /* ports[first, first + count); count 0: any port */
    uint32_t line, column;           /* of the [[rule]] table in the source */
    uint8_t action;                  /* Action */
    uint8_t protocol;                /* Protocol: 0 tcp, 1 udp, 2 any */
    uint8_t reserved[6];
};

struct bg_image_cidr {
    uint8_t family; /* 4 or 6 */
    uint8_t prefix;
    uint8_t reserved[2];
    uint8_t bytes[16]; /* masked to prefix; IPv4 in bytes[0..3] */
};

struct bg_image_port {
    uint16_t first, last; /* inclusive */
};

/* An IPv6 interval start as two halves of the big-endian address. */
struct bg_image_key128 {
    uint64_t high, low;
};

/* count interval starts at keys[key_first..] (keys32 or keys128), ascending, the first
 * 0, and their classes at classes[class_first..]. */
struct bg_image_interval_map {
    uint32_t key_first;
    uint32_t class_first;
    uint32_t count;
    uint32_t up; /* a tree node's nearest ancestor with rules (0: none); 0 elsewhere */
};

/* The first-level table of an interval map (above); count 0: none, the map is
 * searched whole. */
struct bg_image_buckets {
    uint64_t base;  /* the map's second start (its first is 0) */
    uint32_t first; /* buckets[first, first + count] */
    uint32_t count; /* a power of two, at most 65536 */
    uint32_t shift; /* at most 63 */
    uint32_t reserved;
};

/* The segment tree of one address space of a group (indexed = 2): nodes[node_first + i]
 * for i in [0, 2 * leaves); i = 0 is unused. leaves is a power of two. */
struct bg_image_tree {
    uint32_t node_first;
    uint32_t leaves;
};

struct bg_image_group {
    uint32_t service;     /* string; BG_IMAGE_NONE for group 0 */
    uint32_t rules_first; /* group_rules[rules_first, rules_first + rule_count) */
    uint32_t rule_count;
    uint32_t indexed;     /* 0: scan the group's rules (fewer than 8); 1: the maps and the
                             cells below; 2: the address maps and the trees below */
    /* Facts of the group's rules, for the library's short ways (0 or 1 each). */
    uint8_t may_match_loopback; /* some rule may match 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104 */
    uint8_t filters_protocol;   /* some rule has protocol tcp or udp */
    uint8_t reserved[6];
    struct bg_image_interval_map ipv4, v4_mapped, ipv6, ports;
    uint32_t address_classes, port_classes;
    uint32_t cells_first; /* cells[cells_first, cells_first + address_classes * port_classes) */
    uint32_t reserved2;
    struct bg_image_tree ipv4_tree, v4_mapped_tree, ipv6_tree; /* indexed = 2 */
    uint32_t reserved3[2];
    /* The first-level tables of ipv4, v4_mapped, ipv6 and ports (indexed = 1). */
    struct bg_image_buckets ipv4_buckets, v4_mapped_buckets, ipv6_buckets, ports_buckets;
};

#ifdef __cplusplus
}
#endif

#endif /* BINDGUARD_IMAGE_H */
