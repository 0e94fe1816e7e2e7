// Reading a compiled policy image and deciding from it (bindguard/image_view.hpp).
// Part of the freestanding core: no allocation, no exception, no lock, no C++ runtime.
#include "bindguard/image_view.hpp"

#include <elf.h>
#include <fnmatch.h>

#include <cstdio>
#include <cstring>

#include "internal.hpp"

namespace bindguard::image {
namespace {

using detail::DecisionSettings;

constexpr std::uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr std::uint32_t kPortsPerProtocol = 65536;

// The size of one element of each section (enum bg_image_section order).
constexpr std::size_t kElementSize[BG_SECTION_COUNT] = {
    1,                              // strings
    sizeof(bg_image_rule),          // rules
    sizeof(bg_image_cidr),          // cidrs
    sizeof(bg_image_port),          // ports
    sizeof(bg_image_group),         // groups
    sizeof(std::uint32_t),          // group_rules
    sizeof(std::uint32_t),          // keys32
    sizeof(bg_image_key128),        // keys128
    sizeof(std::uint32_t),          // classes
    sizeof(std::uint32_t),          // cells
    sizeof(bg_image_interval_map),  // nodes
    sizeof(std::uint32_t),          // buckets
};

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

std::uint64_t load_be64(const std::uint8_t* p) noexcept {
    std::uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value = (value << 8) | p[i];
    return value;
}

std::uint32_t protocol_segment(Protocol protocol) noexcept {
    switch (protocol) {
        case Protocol::tcp: return 0;
        case Protocol::udp: return 1;
        default: return 2;
    }
}

// The class of the interval of map that holds key: the last start at or below it (Key:
// std::uint32_t in keys32, bg_image_key128 in keys128, compared by at_or_below), or
// BG_IMAGE_NONE when the map does not fit the image. With a first-level table
// (buckets, may be null; bucket_key: the key, or an IPv6 key's high half) only the
// intervals of the key's bucket are searched.
template <class Key, class Probe, class AtOrBelow>
std::uint32_t lookup(const PolicyImage& image, bg_image_section section, const bg_image_interval_map& map,
                     const bg_image_buckets* buckets, const Probe& key, std::uint64_t bucket_key,
                     AtOrBelow at_or_below) noexcept {
    if (map.count == 0 || std::uint64_t{map.key_first} + map.count > image.elements(section, sizeof(Key)) ||
        std::uint64_t{map.class_first} + map.count > image.elements(BG_SECTION_CLASSES, sizeof(std::uint32_t)))
        return BG_IMAGE_NONE;
    const Key* keys = image.element<Key>(section, map.key_first);
    const std::uint32_t* classes = image.element<std::uint32_t>(BG_SECTION_CLASSES, map.class_first);
    if (keys == nullptr || classes == nullptr) return BG_IMAGE_NONE;
    const Key* base = keys;
    std::size_t n = map.count;
    if (buckets != nullptr && buckets->count != 0) {
        if (bucket_key < buckets->base) return classes[0];
        const std::uint64_t bucket = (bucket_key - buckets->base) >> (buckets->shift & 63);
        if (bucket >= buckets->count) return classes[map.count - 1];
        // PolicyImage::group() checked that the table lies inside the image.
        const std::uint32_t* span = image.element<std::uint32_t>(BG_SECTION_BUCKETS, buckets->first + bucket);
        if (span == nullptr || span[0] > span[1] || span[1] >= map.count) return BG_IMAGE_NONE;
        base = keys + span[0];
        n = span[1] - span[0] + 1;
    }
    while (n > 1) {
        const std::size_t half = n / 2;
        base = at_or_below(base[half], key) ? base + half : base;
        n -= half;
    }
    return classes[base - keys];
}

std::uint32_t lookup32(const PolicyImage& image, const bg_image_interval_map& map, const bg_image_buckets* buckets,
                       std::uint32_t key) noexcept {
    return lookup<std::uint32_t>(image, BG_SECTION_KEYS32, map, buckets, key, key,
                                 [](std::uint32_t start, std::uint32_t probe) { return start <= probe; });
}

std::uint32_t lookup128(const PolicyImage& image, const bg_image_interval_map& map, const bg_image_buckets* buckets,
                        std::uint64_t high, std::uint64_t low) noexcept {
    const bg_image_key128 probe{high, low};
    return lookup<bg_image_key128>(image, BG_SECTION_KEYS128, map, buckets, probe, high,
                                   [](const bg_image_key128& start, const bg_image_key128& key) {
                                       return start.high < key.high || (start.high == key.high && start.low <= key.low);
                                   });
}

// True when the interval map's keys and classes lie inside the image.
bool map_fits(const PolicyImage& image, const bg_image_interval_map& map, bg_image_section keys,
              std::size_t key_size) noexcept {
    return map.count > 0 && std::uint64_t{map.key_first} + map.count <= image.elements(keys, key_size) &&
           std::uint64_t{map.class_first} + map.count <= image.elements(BG_SECTION_CLASSES, sizeof(std::uint32_t));
}

// True when the first-level table lies inside the image (or there is none).
bool buckets_fit(const PolicyImage& image, const bg_image_buckets& buckets) noexcept {
    return buckets.count == 0 ||
           (buckets.shift <= 63 && std::uint64_t{buckets.first} + buckets.count + 1 <=
                                       image.elements(BG_SECTION_BUCKETS, sizeof(std::uint32_t)));
}

// True when the tree's nodes lie inside the image (each node's map is checked when it
// is read: a node that does not fit answers "any rule may match").
bool tree_fits(const PolicyImage& image, const bg_image_tree& tree) noexcept {
    return tree.leaves > 0 && (tree.leaves & (tree.leaves - 1)) == 0 &&
           std::uint64_t{tree.node_first} + 2 * std::uint64_t{tree.leaves} <=
               image.elements(BG_SECTION_NODES, sizeof(bg_image_interval_map));
}

// The first rule (a position within the group) whose address, port and protocol match
// leaf and port_key, as the tree says: the smallest answer of the nodes with rules from
// the leaf to the root, reached by their `up` links (none when no rule matches);
// BG_IMAGE_NONE when anything read does not fit or a link does not lead up.
std::uint32_t tree_first(const PolicyImage& image, const bg_image_tree& tree, std::uint32_t leaf,
                         std::uint32_t port_key, std::uint32_t none) noexcept {
    if (leaf >= tree.leaves) return BG_IMAGE_NONE;
    const auto* nodes = image.element<bg_image_interval_map>(BG_SECTION_NODES, tree.node_first);
    if (nodes == nullptr) return BG_IMAGE_NONE;
    std::uint32_t best = none;
    std::uint64_t node = std::uint64_t{tree.leaves} + leaf;
    if (nodes[node].count == 0) {
        if (nodes[node].up >= node) return BG_IMAGE_NONE;
        node = nodes[node].up;
    }
    while (node >= 1) {
        const bg_image_interval_map& map = nodes[node];
        const std::uint32_t found = lookup32(image, map, nullptr, port_key);
        if (found == BG_IMAGE_NONE || map.up >= node) return BG_IMAGE_NONE;
        if (found < best) best = found;
        node = map.up;
    }
    return best;
}

// The group's first rule whose address, port and protocol match request, as its index
// says: true with it in start (the group's rule_count for none); false when the group
// has no index, the request is not IP, or a part of the index does not fit the image
// (the caller then scans every rule).
bool index_start(const PolicyImage& image, const bg_image_group& group, const Request& request,
                 std::uint32_t& start) noexcept {
    const Endpoint& address = request.address;
    if (group.indexed == 0 || (address.family != AF_INET && address.family != AF_INET6)) return false;
    const bool v4 = address.family == AF_INET;
    const bool v4_mapped = !v4 && std::memcmp(address.bytes.data(), kV4MappedPrefix, 12) == 0;
    const std::uint32_t address_class =
        v4          ? lookup32(image, group.ipv4, &group.ipv4_buckets, load_be32(address.bytes.data()))
        : v4_mapped ? lookup32(image, group.v4_mapped, &group.v4_mapped_buckets, load_be32(address.bytes.data() + 12))
                    : lookup128(image, group.ipv6, &group.ipv6_buckets, load_be64(address.bytes.data()),
                                load_be64(address.bytes.data() + 8));
    const std::uint32_t port_key = protocol_segment(request.protocol) * kPortsPerProtocol + address.port;
    if (group.indexed == 2) {
        const bg_image_tree& tree = v4 ? group.ipv4_tree : v4_mapped ? group.v4_mapped_tree : group.ipv6_tree;
        const std::uint32_t found = tree_first(image, tree, address_class, port_key, group.rule_count);
        if (found == BG_IMAGE_NONE) return false;
        start = found;
        return true;
    }
    const std::uint32_t port_class = lookup32(image, group.ports, &group.ports_buckets, port_key);
    if (address_class >= group.address_classes || port_class >= group.port_classes) return false;
    const std::uint32_t* cell = image.element<std::uint32_t>(
        BG_SECTION_CELLS, group.cells_first + std::uint64_t{address_class} * group.port_classes + port_class);
    if (cell == nullptr) return false;
    start = *cell;
    return true;
}

// The CIDR of the image as the policy's Cidr, whose contains() decides.
Cidr to_cidr(const bg_image_cidr& stored) noexcept {
    Cidr cidr;
    cidr.family = stored.family == 4 ? AF_INET : stored.family == 6 ? AF_INET6 : 0;
    std::memcpy(cidr.bytes.data(), stored.bytes, 16);
    cidr.prefix = stored.prefix;
    return cidr;
}

// True when the rule's action and protocol are values of their enums, the arrays of its
// filters lie inside the image and its CIDRs have a family and a prefix length that fits.
bool rule_fits(const PolicyImage& image, const bg_image_rule& rule) noexcept {
    if (rule.action > static_cast<std::uint8_t>(Action::deny) || rule.protocol > static_cast<std::uint8_t>(Protocol::any) ||
        std::uint64_t{rule.cidr_first} + rule.cidr_count > image.elements(BG_SECTION_CIDRS, sizeof(bg_image_cidr)) ||
        std::uint64_t{rule.port_first} + rule.port_count > image.elements(BG_SECTION_PORTS, sizeof(bg_image_port)))
        return false;
    for (std::uint32_t c = 0; c < rule.cidr_count; ++c) {
        const bg_image_cidr& cidr = *image.element<bg_image_cidr>(BG_SECTION_CIDRS, std::uint64_t{rule.cidr_first} + c);
        if (!(cidr.family == 4 && cidr.prefix <= 32) && !(cidr.family == 6 && cidr.prefix <= 128)) return false;
    }
    return true;
}

}  // namespace

const char* describe(Problem problem) noexcept {
    switch (problem) {
        case Problem::none: return "is a valid compiled policy image";
        case Problem::not_an_image: return "is not a compiled policy image";
        case Problem::other_format: return "was compiled by a bindguard with another image format";
        case Problem::other_machine: return "was compiled on a machine of another architecture";
        case Problem::truncated: return "is truncated (its size is not the one its header gives)";
        case Problem::corrupt: return "is corrupt (its checksum does not match)";
        case Problem::bad_layout: return "is corrupt (a section or a setting is out of range)";
    }
    return "is not a compiled policy image";
}

std::uint64_t hash(const void* data, std::size_t size) noexcept {
    // Word-at-a-time FNV-1a with a final mix; the tail is zero-padded.
    const auto* bytes = static_cast<const unsigned char*>(data);
    std::uint64_t h = 0xcbf29ce484222325ull ^ (static_cast<std::uint64_t>(size) * 0x9e3779b97f4a7c15ull);
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes + i, 8);
        h = (h ^ word) * 0x100000001b3ull;
        h ^= h >> 32;
    }
    if (i < size) {
        std::uint64_t word = 0;
        std::memcpy(&word, bytes + i, size - i);
        h = (h ^ word) * 0x100000001b3ull;
        h ^= h >> 32;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

std::uint32_t this_arch() noexcept {
#if defined(__x86_64__)
    constexpr std::uint32_t machine = EM_X86_64;
#elif defined(__aarch64__)
    constexpr std::uint32_t machine = EM_AARCH64;
#elif defined(__i386__)
    constexpr std::uint32_t machine = EM_386;
#elif defined(__arm__)
    constexpr std::uint32_t machine = EM_ARM;
#elif defined(__riscv)
    constexpr std::uint32_t machine = EM_RISCV;
#elif defined(__powerpc64__)
    constexpr std::uint32_t machine = EM_PPC64;
#elif defined(__s390x__)
    constexpr std::uint32_t machine = EM_S390;
#else
    constexpr std::uint32_t machine = EM_NONE;
#endif
    return BG_IMAGE_ARCH_CODE(machine, __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__);
}

void cache_key(const char* path, std::size_t length, char (&out)[kCacheKeySize]) noexcept {
    static const char digits[] = "0123456789abcdef";
    std::uint64_t value = hash(path, length);
    for (int i = 15; i >= 0; --i, value >>= 4) out[i] = digits[value & 15];
    std::memcpy(out + 16, BG_IMAGE_SUFFIX, sizeof(BG_IMAGE_SUFFIX));
}

bool user_cache_directory(const char* xdg_cache_home, const char* home, char* out, std::size_t size) noexcept {
    int n = -1;
    if (xdg_cache_home != nullptr && xdg_cache_home[0] == '/')
        n = std::snprintf(out, size, "%s/bindguard", xdg_cache_home);
    else if (home != nullptr && home[0] == '/')
        n = std::snprintf(out, size, "%s/.cache/bindguard", home);
    if (n > 0 && static_cast<std::size_t>(n) < size) return true;
    if (size > 0) out[0] = '\0';
    return false;
}

bool same_source(const bg_image_source& stored, const SourceStat& now) noexcept {
    return stored.device == now.device && stored.inode == now.inode && stored.size == now.size &&
           stored.mtime_sec == now.mtime_sec && stored.mtime_nsec == now.mtime_nsec;
}

Problem PolicyImage::check(const void* data, std::size_t size, bool verify_checksum, PolicyImage& out) noexcept {
    const auto* base = static_cast<const unsigned char*>(data);
    if (base == nullptr || size < sizeof(bg_image_header::magic) ||
        std::memcmp(base, BG_IMAGE_MAGIC, sizeof(bg_image_header::magic)) != 0)
        return Problem::not_an_image;
    if (size < sizeof(bg_image_header)) return Problem::truncated;
    if (reinterpret_cast<std::uintptr_t>(base) % alignof(bg_image_header) != 0) return Problem::bad_layout;
    const auto* header = reinterpret_cast<const bg_image_header*>(base);
    if (header->format != BG_IMAGE_FORMAT) return Problem::other_format;
    if (header->arch != this_arch()) return Problem::other_machine;
    if (header->size != size) return Problem::truncated;
    if (verify_checksum && hash(base + BG_IMAGE_CHECKSUM_FROM, size - BG_IMAGE_CHECKSUM_FROM) != header->checksum)
        return Problem::corrupt;

    for (int s = 0; s < BG_SECTION_COUNT; ++s) {
        const bg_image_section_ref& ref = header->sections[s];
        if (ref.offset % 8 != 0 || ref.offset < sizeof(bg_image_header) || ref.offset > size ||
            ref.size > size - ref.offset || ref.size % kElementSize[s] != 0)
            return Problem::bad_layout;
    }
    const bg_image_section_ref& strings = header->sections[BG_SECTION_STRINGS];
    if (strings.size == 0 || base[strings.offset + strings.size - 1] != '\0') return Problem::bad_layout;
    if (header->rule_count != header->sections[BG_SECTION_RULES].size / sizeof(bg_image_rule) ||
        header->group_count == 0 || header->group_count != header->sections[BG_SECTION_GROUPS].size / sizeof(bg_image_group))
        return Problem::bad_layout;
    const bg_image_settings& settings = header->settings;
    if (settings.mode > 1 || settings.dual_stack > 1 || settings.default_action > 2 || settings.udp_ephemeral > 1 ||
        settings.children_inherit > 1 || settings.log_to > 3 || settings.log_format > 1 || settings.log_level > 3)
        return Problem::bad_layout;
    out.base_ = base;
    out.header_ = header;
    out.size_ = size;
    return Problem::none;
}

const char* PolicyImage::string(std::uint32_t offset) const noexcept {
    const bg_image_section_ref& ref = header_->sections[BG_SECTION_STRINGS];
    if (offset >= ref.size) return "";
    return reinterpret_cast<const char*>(base_ + ref.offset + offset);
}

Mode PolicyImage::mode() const noexcept { return static_cast<Mode>(header_->settings.mode); }
Action PolicyImage::default_action() const noexcept { return static_cast<Action>(header_->settings.default_action); }
DualStack PolicyImage::dual_stack() const noexcept { return static_cast<DualStack>(header_->settings.dual_stack); }
UdpEphemeral PolicyImage::udp_ephemeral() const noexcept {
    return static_cast<UdpEphemeral>(header_->settings.udp_ephemeral);
}
LogSink PolicyImage::log_to() const noexcept { return static_cast<LogSink>(header_->settings.log_to); }
LogFormat PolicyImage::log_format() const noexcept { return static_cast<LogFormat>(header_->settings.log_format); }
LogLevel PolicyImage::log_level() const noexcept { return static_cast<LogLevel>(header_->settings.log_level); }

Endpoint PolicyImage::loopback_ipv4() const noexcept {
    Endpoint ep;
    ep.family = AF_INET;
    std::memcpy(ep.bytes.data(), header_->settings.loopback_ipv4, 4);
    return ep;
}

Endpoint PolicyImage::loopback_ipv6() const noexcept {
    Endpoint ep;
    ep.family = AF_INET6;
    std::memcpy(ep.bytes.data(), header_->settings.loopback_ipv6, 16);
    return ep;
}

const bg_image_rule* PolicyImage::rule(std::uint32_t i) const noexcept {
    return element<bg_image_rule>(BG_SECTION_RULES, i);
}

const bg_image_group* PolicyImage::group(std::uint32_t i) const noexcept {
    const bg_image_group* group = element<bg_image_group>(BG_SECTION_GROUPS, i);
    if (group == nullptr) return nullptr;
    if (std::uint64_t{group->rules_first} + group->rule_count > elements(BG_SECTION_GROUP_RULES, sizeof(std::uint32_t)))
        return nullptr;
    if (group->indexed == 0) return group;
    if (!buckets_fit(*this, group->ipv4_buckets) || !buckets_fit(*this, group->v4_mapped_buckets) ||
        !buckets_fit(*this, group->ipv6_buckets) || !buckets_fit(*this, group->ports_buckets))
        return nullptr;
    if (group->indexed == 2) {
        const bool fits = map_fits(*this, group->ipv4, BG_SECTION_KEYS32, sizeof(std::uint32_t)) &&
                          map_fits(*this, group->v4_mapped, BG_SECTION_KEYS32, sizeof(std::uint32_t)) &&
                          map_fits(*this, group->ipv6, BG_SECTION_KEYS128, sizeof(bg_image_key128)) &&
                          tree_fits(*this, group->ipv4_tree) && tree_fits(*this, group->v4_mapped_tree) &&
                          tree_fits(*this, group->ipv6_tree);
        return fits ? group : nullptr;
    }
    if (group->indexed != 1) return nullptr;
    if (!map_fits(*this, group->ipv4, BG_SECTION_KEYS32, sizeof(std::uint32_t)) ||
        !map_fits(*this, group->v4_mapped, BG_SECTION_KEYS32, sizeof(std::uint32_t)) ||
        !map_fits(*this, group->ports, BG_SECTION_KEYS32, sizeof(std::uint32_t)) ||
        !map_fits(*this, group->ipv6, BG_SECTION_KEYS128, sizeof(bg_image_key128)) || group->port_classes == 0 ||
        std::uint64_t{group->cells_first} + std::uint64_t{group->address_classes} * group->port_classes >
            elements(BG_SECTION_CELLS, sizeof(std::uint32_t)))
        return nullptr;
    return group;
}

std::uint32_t PolicyImage::service_group(const char* service) const noexcept {
    if (service == nullptr || *service == '\0') return BG_IMAGE_NONE;
    // groups[1..group_count) sorted by service name, bytewise.
    std::uint32_t low = 1, high = header_->group_count;
    while (low < high) {
        const std::uint32_t middle = low + (high - low) / 2;
        const bg_image_group* candidate = element<bg_image_group>(BG_SECTION_GROUPS, middle);
        if (candidate == nullptr) return BG_IMAGE_NONE;
        const int order = std::strcmp(string(candidate->service), service);
        if (order == 0) return middle;
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    return BG_IMAGE_NONE;
}

ProcessPolicy::ProcessPolicy(const PolicyImage& image, const char* program, const char* command,
                             const char* service, FilterMemo memo) noexcept
    : image_(image),
      settings_{image.loopback_ipv4(), image.loopback_ipv6(), image.dual_stack(), image.udp_ephemeral(),
                image.default_action()},
      common_(image.group(0)),
      program_(program != nullptr ? program : ""),
      command_(command != nullptr ? command : ""),
      service_name_(service != nullptr ? service : ""),
      memo_(memo) {
    const std::uint32_t own = image.service_group(service);
    if (own != BG_IMAGE_NONE) service_ = image.group(own);
    // A group whose arrays do not fit the image cannot be read: decide() then fails closed.
    valid_ = common_ != nullptr && (own == BG_IMAGE_NONE || service_ != nullptr);
}

bool ProcessPolicy::process_filters_match(std::uint32_t position, const bg_image_rule& rule) const noexcept {
    if (rule.program == BG_IMAGE_NONE && rule.command == BG_IMAGE_NONE) return true;
    std::atomic<std::uint8_t>* slot = position < memo_.size ? &memo_.bytes[position] : nullptr;
    if (slot != nullptr) {
        const std::uint8_t known = slot->load(std::memory_order_relaxed);
        if (known != 0) return known == 1;
    }
    const bool matches =
        (rule.program == BG_IMAGE_NONE || fnmatch(image_.string(rule.program), program_, 0) == 0) &&
        (rule.command == BG_IMAGE_NONE || fnmatch(image_.string(rule.command), command_, 0) == 0);
    // Every thread computes the same answer, so a race only repeats the work.
    if (slot != nullptr) slot->store(matches ? 1 : 2, std::memory_order_relaxed);
    return matches;
}

std::uint32_t ProcessPolicy::first_match(const bg_image_group* group, const Request& request,
                                         std::uint32_t limit) const noexcept {
    if (group == nullptr || group->rule_count == 0) return limit;
    std::uint32_t start = 0;
    // The index's answer matches the request's address, port and protocol by
    // construction: only its process filters are left to check. Any later rule is
    // checked whole.
    const bool from_index = index_start(image_, *group, request, start);
    for (std::uint32_t k = start; k < group->rule_count; ++k) {
        const std::uint32_t* slot = image_.element<std::uint32_t>(BG_SECTION_GROUP_RULES, group->rules_first + std::uint64_t{k});
        if (slot == nullptr) break;
        const std::uint32_t position = *slot;
        if (position >= limit) break;  // positions ascend: no later rule of the group comes first
        const bg_image_rule* rule = image_.rule(position);
        if (rule == nullptr) break;
        // A rule whose filters do not fit the image is taken as matching, and decide()
        // denies for it: a damaged image never lets a bind through that it might deny.
        if (!rule_fits(image_, *rule)) return position;
        if (from_index && k == start) {
            if (process_filters_match(position, *rule)) return position;
            continue;
        }
        if (!detail::protocol_matches(static_cast<Protocol>(rule->protocol), request.protocol)) continue;
        if (rule->cidr_count != 0) {
            bool any = false;
            for (std::uint32_t c = 0; c < rule->cidr_count && !any; ++c)
                any = to_cidr(*image_.element<bg_image_cidr>(BG_SECTION_CIDRS, std::uint64_t{rule->cidr_first} + c))
                          .contains(request.address);
            if (!any) continue;
        }
        if (!detail::port_matches(image_.element<bg_image_port>(BG_SECTION_PORTS, rule->port_first), rule->port_count,
                                  request.address.port))
            continue;
        if (!process_filters_match(position, *rule)) continue;
        return position;
    }
    return limit;
}

Decision ProcessPolicy::decide(const Request& request) const noexcept {
    if (!valid_) {
        const bool loopback = is_loopback(request.address);
        return Decision{loopback ? Action::allow : Action::deny, request.address, "fail-closed"};
    }
    const DecisionSettings& settings = settings_;
    const std::uint32_t none = image_.rule_count();
    std::uint32_t best = first_match(common_, request, none);
    best = first_match(service_, request, best);
    if (best < none) {
        const bg_image_rule* rule = image_.rule(best);
        const Action action = rule_fits(image_, *rule) ? static_cast<Action>(rule->action) : Action::deny;
        return detail::rule_decision(settings, request, action, image_.string(rule->name));
    }
    return detail::decision_without_rule(settings, request);
}

bool ProcessPolicy::rules_may_match_loopback() const noexcept {
    return !valid_ || (common_ != nullptr && common_->may_match_loopback) || (service_ != nullptr && service_->may_match_loopback);
}

bool ProcessPolicy::rules_filter_protocol() const noexcept {
    return (common_ != nullptr && common_->filters_protocol) || (service_ != nullptr && service_->filters_protocol);
}

bool ProcessPolicy::rewrites_every_public_ipv4_bind() const noexcept {
    const bool no_rules = (common_ == nullptr || common_->rule_count == 0) && (service_ == nullptr || service_->rule_count == 0);
    return valid_ && no_rules && image_.default_action() == Action::rewrite;
}

bool ProcessPolicy::applies(std::uint32_t position) const noexcept {
    const bg_image_rule* rule = image_.rule(position);
    if (rule == nullptr) return false;
    if (rule->service != BG_IMAGE_NONE && std::strcmp(image_.string(rule->service), service_name_) != 0) return false;
    return process_filters_match(position, *rule);
}

Endpoint ProcessPolicy::loopback_for(const Endpoint& requested, bool v6only) const noexcept {
    return detail::loopback_target(settings_, requested, v6only);
}

}  // namespace bindguard::image
