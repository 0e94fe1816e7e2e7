// The policy compiler (bindguard/compile.hpp): a Policy as image bytes, and where
// images live.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "bindguard/compile.hpp"
#include "internal.hpp"
#include "rule_index.hpp"

namespace bindguard::image {
namespace {

using detail::RuleIndex;
using detail::Uint128;

// The strings of an image: each distinct string once, offset 0 the empty string.
class StringTable {
public:
    StringTable() { bytes_.push_back('\0'); }
    std::uint32_t add(const std::string& text) {
        if (text.empty()) return 0;
        const auto [it, added] = offsets_.try_emplace(text, static_cast<std::uint32_t>(bytes_.size()));
        if (added) bytes_.insert(bytes_.end(), text.c_str(), text.c_str() + text.size() + 1);
        return it->second;
    }
    std::uint32_t add(const std::optional<std::string>& text) { return text ? add(*text) : BG_IMAGE_NONE; }
    const std::vector<char>& bytes() const noexcept { return bytes_; }

private:
    std::vector<char> bytes_;
    std::map<std::string, std::uint32_t> offsets_;
};

template <class T>
void append(std::vector<unsigned char>& out, const T& value) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
    out.insert(out.end(), bytes, bytes + sizeof value);
}

bool rule_may_match_loopback(const Rule& rule) noexcept {
    static const Cidr kLoopback[] = {
        {AF_INET, {127}, 8},
        {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},
        {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127}, 104},
    };
    if (rule.addresses.empty()) return true;
    for (const Cidr& cidr : rule.addresses)
        for (const Cidr& loopback : kLoopback)
            if (cidr.covers(loopback) || loopback.covers(cidr)) return true;
    return false;
}

// The arrays of every group's index, in the order they are written.
struct IndexArrays {
    std::vector<std::uint32_t> keys32;
    std::vector<bg_image_key128> keys128;
    std::vector<std::uint32_t> classes;
    std::vector<std::uint32_t> cells;
    std::vector<bg_image_interval_map> nodes;
    std::vector<std::uint32_t> buckets;
};

// Maps with fewer keys than this are searched whole: the table would not pay.
constexpr std::size_t kBucketMinKeys = 16;
constexpr std::uint32_t kBucketMaxCount = 65536;
// A table one of whose buckets spans more intervals than this is not kept (keys clustered
// into few buckets, as IPv6 prefixes that differ only in their low bits): its search would
// cost about what the whole map's does, and the table's reads would come on top.
constexpr std::uint32_t kBucketMaxSpan = 8;

// The first-level table of the map whose starts are keys (ascending, keys[0] = 0), each
// projected by high (the key itself, or an IPv6 key's high half) and compared with a
// bucket's first key by at_or_below (image.h: struct bg_image_buckets).
template <class Key, class High, class AtOrBelow>
bg_image_buckets store_buckets(const std::vector<Key>& keys, High high, AtOrBelow at_or_below,
                               IndexArrays& arrays) {
    bg_image_buckets stored{};
    if (keys.size() < kBucketMinKeys) return stored;
    const std::uint64_t base = high(keys[1]);
    const std::uint64_t range = high(keys.back()) - base;
    std::uint32_t count = 1;
    while (count < keys.size() && count < kBucketMaxCount) count *= 2;
    std::uint32_t shift = 0;
    while (shift < 63 && (range >> shift) >= count) ++shift;
    stored.base = base;
    stored.first = static_cast<std::uint32_t>(arrays.buckets.size());
    stored.count = count;
    stored.shift = shift;
    // buckets[b]: the last interval whose start is at or below bucket b's first key.
    std::size_t interval = 0;
    for (std::uint32_t b = 0; b < count; ++b) {
        const Uint128 first = static_cast<Uint128>(base) + (static_cast<Uint128>(b) << shift);
        while (interval + 1 < keys.size() && at_or_below(keys[interval + 1], first)) ++interval;
        arrays.buckets.push_back(static_cast<std::uint32_t>(interval));
    }
    arrays.buckets.push_back(static_cast<std::uint32_t>(keys.size() - 1));
    for (std::uint32_t b = 0; b < count; ++b) {
        if (arrays.buckets[stored.first + b + 1] - arrays.buckets[stored.first + b] + 1 > kBucketMaxSpan) {
            arrays.buckets.resize(stored.first);
            return bg_image_buckets{};
        }
    }
    return stored;
}

bg_image_buckets store_buckets(const detail::IntervalMap<std::uint32_t>& map, IndexArrays& arrays) {
    return store_buckets(
        map.starts, [](std::uint32_t key) { return std::uint64_t{key}; },
        [](std::uint32_t start, Uint128 first) { return start <= first; }, arrays);
}

bg_image_buckets store_buckets(const detail::IntervalMap<Uint128>& map, IndexArrays& arrays) {
    // An IPv6 bucket's first key is its high half followed by 64 zero bits.
    return store_buckets(
        map.starts, [](Uint128 key) { return static_cast<std::uint64_t>(key >> 64); },
        [](Uint128 start, Uint128 first) { return first > ~std::uint64_t{0} || start <= (first << 64); },
        arrays);
}

bg_image_interval_map store_map(const detail::IntervalMap<std::uint32_t>& map, IndexArrays& arrays) {
    bg_image_interval_map stored{};
    stored.key_first = static_cast<std::uint32_t>(arrays.keys32.size());
    stored.class_first = static_cast<std::uint32_t>(arrays.classes.size());
    stored.count = static_cast<std::uint32_t>(map.starts.size());
    arrays.keys32.insert(arrays.keys32.end(), map.starts.begin(), map.starts.end());
    arrays.classes.insert(arrays.classes.end(), map.classes.begin(), map.classes.end());
    return stored;
}

bg_image_interval_map store_map(const detail::IntervalMap<Uint128>& map, IndexArrays& arrays) {
    bg_image_interval_map stored{};
    stored.key_first = static_cast<std::uint32_t>(arrays.keys128.size());
    stored.class_first = static_cast<std::uint32_t>(arrays.classes.size());
    stored.count = static_cast<std::uint32_t>(map.starts.size());
    for (const Uint128 key : map.starts)
        arrays.keys128.push_back({static_cast<std::uint64_t>(key >> 64), static_cast<std::uint64_t>(key)});
    arrays.classes.insert(arrays.classes.end(), map.classes.begin(), map.classes.end());
    return stored;
}

bg_image_tree store_tree(const detail::SegmentTree& tree, IndexArrays& arrays) {
    bg_image_tree stored{};
    stored.node_first = static_cast<std::uint32_t>(arrays.nodes.size());
    stored.leaves = tree.leaves;
    for (const auto& node : tree.nodes)
        arrays.nodes.push_back(node.starts.empty() ? bg_image_interval_map{} : store_map(node, arrays));
    // Each node's nearest ancestor with rules (0: none), so that a lookup skips the empty ones.
    bg_image_interval_map* nodes = arrays.nodes.data() + stored.node_first;
    for (std::size_t i = 2; i < tree.nodes.size(); ++i) {
        const std::size_t parent = i / 2;
        nodes[i].up = nodes[parent].count != 0 ? static_cast<std::uint32_t>(parent) : nodes[parent].up;
    }
    return stored;
}

// The group of the rules at positions (ascending) of policy, with its index when it
// has enough rules for one to pay.
bg_image_group make_group(const Policy& policy, std::uint32_t service, const std::vector<std::uint32_t>& positions,
                          const detail::IndexLimits& limits, std::vector<std::uint32_t>& group_rules,
                          IndexArrays& arrays) {
    bg_image_group group{};
    group.service = service;
    group.rules_first = static_cast<std::uint32_t>(group_rules.size());
    group.rule_count = static_cast<std::uint32_t>(positions.size());
    group_rules.insert(group_rules.end(), positions.begin(), positions.end());
    std::vector<Rule> rules;
    rules.reserve(positions.size());
    for (const std::uint32_t position : positions) {
        const Rule& rule = policy.rules[position];
        if (rule_may_match_loopback(rule)) group.may_match_loopback = 1;
        if (rule.protocol != Protocol::any) group.filters_protocol = 1;
        rules.push_back(rule);
    }
    if (rules.size() < detail::kIndexMinRules) return group;
    const auto index = RuleIndex::build(rules, limits);
    if (!index) return group;  // more rules than 32 bits number: never written
    group.ipv4 = store_map(index->ipv4(), arrays);
    group.v4_mapped = store_map(index->v4_mapped(), arrays);
    group.ipv6 = store_map(index->ipv6(), arrays);
    group.ipv4_buckets = store_buckets(index->ipv4(), arrays);
    group.v4_mapped_buckets = store_buckets(index->v4_mapped(), arrays);
    group.ipv6_buckets = store_buckets(index->ipv6(), arrays);
    if (index->is_tree()) {
        group.indexed = 2;
        group.ipv4_tree = store_tree(index->ipv4_tree(), arrays);
        group.v4_mapped_tree = store_tree(index->v4_mapped_tree(), arrays);
        group.ipv6_tree = store_tree(index->ipv6_tree(), arrays);
        return group;
    }
    group.indexed = 1;
    group.ports = store_map(index->ports(), arrays);
    group.ports_buckets = store_buckets(index->ports(), arrays);
    group.port_classes = index->port_class_count();
    group.address_classes = group.port_classes == 0
                                ? 0
                                : static_cast<std::uint32_t>(index->first_rule().size() / group.port_classes);
    group.cells_first = static_cast<std::uint32_t>(arrays.cells.size());
    arrays.cells.insert(arrays.cells.end(), index->first_rule().begin(), index->first_rule().end());
    return group;
}

// Appends a section of elements, padded to 8 bytes, and records where it is.
template <class T>
void add_section(std::vector<unsigned char>& out, bg_image_header& header, bg_image_section section,
                 const T* data, std::size_t count) {
    header.sections[section].offset = out.size();
    header.sections[section].size = count * sizeof(T);
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    out.insert(out.end(), bytes, bytes + count * sizeof(T));
    out.resize((out.size() + 7) / 8 * 8, 0);
}

std::string describe_stat_difference(const bg_image_source& stored, const struct stat& now) {
    if (stored.device != static_cast<std::uint64_t>(now.st_dev) || stored.inode != static_cast<std::uint64_t>(now.st_ino))
        return "the source was replaced (another file now) since it was compiled";
    if (stored.size != static_cast<std::uint64_t>(now.st_size)) return "the source's size changed since it was compiled";
    return "the source was modified since it was compiled";
}

}  // namespace

std::vector<unsigned char> compile(const Policy& policy, const SourceIdentity& source) {
    return compile(policy, source, detail::IndexLimits{});
}

std::vector<unsigned char> compile(const Policy& policy, const SourceIdentity& source,
                                   const detail::IndexLimits& limits) {
    StringTable strings;
    bg_image_header header{};
    std::memcpy(header.magic, BG_IMAGE_MAGIC, sizeof header.magic);
    header.format = BG_IMAGE_FORMAT;
    header.arch = this_arch();
    header.source = {source.device, source.inode, source.size, source.mtime_sec, source.mtime_nsec, source.content_hash};
    header.source_path = strings.add(source.path);
    header.rule_count = static_cast<std::uint32_t>(policy.rules.size());

    bg_image_settings& settings = header.settings;
    settings.version = static_cast<std::uint8_t>(policy.version);
    settings.mode = static_cast<std::uint8_t>(policy.mode);
    settings.dual_stack = static_cast<std::uint8_t>(policy.dual_stack);
    settings.default_action = static_cast<std::uint8_t>(policy.default_action);
    settings.udp_ephemeral = static_cast<std::uint8_t>(policy.udp_ephemeral);
    settings.children_inherit = policy.children_inherit ? 1 : 0;
    settings.log_to = static_cast<std::uint8_t>(policy.log.to);
    settings.log_format = static_cast<std::uint8_t>(policy.log.format);
    settings.log_level = static_cast<std::uint8_t>(policy.log.level);
    settings.log_rate = policy.log.rate;
    settings.log_path = strings.add(policy.log.path);
    std::memcpy(settings.loopback_ipv4, policy.loopback_ipv4.bytes.data(), 4);
    std::memcpy(settings.loopback_ipv6, policy.loopback_ipv6.bytes.data(), 16);

    std::vector<bg_image_rule> rules;
    std::vector<bg_image_cidr> cidrs;
    std::vector<bg_image_port> ports;
    std::vector<std::uint32_t> common;                            // positions of rules without a service
    std::map<std::string, std::vector<std::uint32_t>> by_service;  // sorted bytewise (std::string's <)
    for (std::size_t i = 0; i < policy.rules.size(); ++i) {
        const Rule& rule = policy.rules[i];
        bg_image_rule stored{};
        stored.name = strings.add(rule.name);
        stored.program = strings.add(rule.program);
        stored.command = strings.add(rule.command);
        stored.service = strings.add(rule.service);
        stored.cidr_first = static_cast<std::uint32_t>(cidrs.size());
        stored.cidr_count = static_cast<std::uint32_t>(rule.addresses.size());
        for (const Cidr& cidr : rule.addresses) {
            bg_image_cidr c{};
            c.family = cidr.family == AF_INET ? 4 : 6;
            c.prefix = cidr.prefix;
            std::memcpy(c.bytes, cidr.bytes.data(), 16);
            cidrs.push_back(c);
        }
        stored.port_first = static_cast<std::uint32_t>(ports.size());
        stored.port_count = static_cast<std::uint32_t>(rule.ports.size());
        for (const PortRange& range : rule.ports) ports.push_back({range.first, range.last});
        stored.line = rule.position.line;
        stored.column = rule.position.column;
        stored.action = static_cast<std::uint8_t>(rule.action);
        stored.protocol = static_cast<std::uint8_t>(rule.protocol);
        rules.push_back(stored);
        if (rule.service)
            by_service[*rule.service].push_back(static_cast<std::uint32_t>(i));
        else
            common.push_back(static_cast<std::uint32_t>(i));
    }

    std::vector<bg_image_group> groups;
    std::vector<std::uint32_t> group_rules;
    IndexArrays arrays;
    groups.push_back(make_group(policy, BG_IMAGE_NONE, common, limits, group_rules, arrays));
    for (const auto& [service, positions] : by_service)
        groups.push_back(make_group(policy, strings.add(service), positions, limits, group_rules, arrays));
    header.group_count = static_cast<std::uint32_t>(groups.size());

    std::vector<unsigned char> out(sizeof header, 0);
    const auto& text = strings.bytes();
    add_section(out, header, BG_SECTION_STRINGS, text.data(), text.size());
    add_section(out, header, BG_SECTION_RULES, rules.data(), rules.size());
    add_section(out, header, BG_SECTION_CIDRS, cidrs.data(), cidrs.size());
    add_section(out, header, BG_SECTION_PORTS, ports.data(), ports.size());
    add_section(out, header, BG_SECTION_GROUPS, groups.data(), groups.size());
    add_section(out, header, BG_SECTION_GROUP_RULES, group_rules.data(), group_rules.size());
    add_section(out, header, BG_SECTION_KEYS32, arrays.keys32.data(), arrays.keys32.size());
    add_section(out, header, BG_SECTION_KEYS128, arrays.keys128.data(), arrays.keys128.size());
    add_section(out, header, BG_SECTION_CLASSES, arrays.classes.data(), arrays.classes.size());
    add_section(out, header, BG_SECTION_CELLS, arrays.cells.data(), arrays.cells.size());
    add_section(out, header, BG_SECTION_NODES, arrays.nodes.data(), arrays.nodes.size());
    add_section(out, header, BG_SECTION_BUCKETS, arrays.buckets.data(), arrays.buckets.size());
    header.size = out.size();
    std::memcpy(out.data(), &header, sizeof header);
    header.checksum = hash(out.data() + BG_IMAGE_CHECKSUM_FROM, out.size() - BG_IMAGE_CHECKSUM_FROM);
    std::memcpy(out.data(), &header, sizeof header);
    return out;
}

std::string beside_path(const std::string& source) { return source + BG_IMAGE_SUFFIX; }

std::string cache_key(const std::string& source) {
    char key[kCacheKeySize];
    image::cache_key(source.c_str(), source.size(), key);
    return key;
}

std::string system_cache_path(const std::string& source) {
    return std::string(BG_IMAGE_SYSTEM_CACHE) + "/" + cache_key(source);
}

std::string user_cache_path(const std::string& source) {
    char directory[4096];
    if (!user_cache_directory(std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"), directory, sizeof directory))
        return {};
    return std::string(directory) + "/" + cache_key(source);
}

ImageStatus image_status(const std::string& image_path, const std::string& source) {
    ImageStatus status;
    status.path = image_path;
    const int fd = open(image_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        status.freshness = errno == ENOENT || errno == ENOTDIR ? Freshness::missing : Freshness::unreadable;
        status.detail = std::strerror(errno);
        return status;
    }
    std::vector<unsigned char> bytes;
    unsigned char chunk[65536];
    for (;;) {
        const ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            status.freshness = Freshness::unreadable;
            status.detail = std::strerror(errno);
            close(fd);
            return status;
        }
        if (n == 0) break;
        bytes.insert(bytes.end(), chunk, chunk + n);
    }
    close(fd);
    // The bytes of a std::vector are suitably aligned for the header (operator new).
    PolicyImage image;
    status.problem = PolicyImage::check(bytes.data(), bytes.size(), true, image);
    if (status.problem != Problem::none) {
        status.freshness = Freshness::invalid;
        status.detail = describe(status.problem);
        return status;
    }
    struct stat st {};
    if (stat(source.c_str(), &st) != 0) {
        status.freshness = Freshness::stale;
        status.detail = std::string("the source cannot be read: ") + std::strerror(errno);
        return status;
    }
    const bg_image_source& stored = image.header().source;
    if (std::string(image.source_path()) != source) {
        status.freshness = Freshness::stale;
        status.detail = std::string("it was compiled from ") + image.source_path();
        return status;
    }
    if (!same_source(stored, source_stat_of(st))) {
        status.freshness = Freshness::stale;
        status.detail = describe_stat_difference(stored, st);
        return status;
    }
    status.freshness = Freshness::fresh;
    return status;
}

ImageStatus find_image(const std::string& source) {
    std::vector<std::string> candidates{beside_path(source), system_cache_path(source)};
    if (const std::string user = user_cache_path(source); !user.empty()) candidates.push_back(user);
    std::optional<ImageStatus> first_present;
    for (const std::string& candidate : candidates) {
        ImageStatus status = image_status(candidate, source);
        if (status.freshness == Freshness::fresh) return status;
        if (status.freshness != Freshness::missing && !first_present) first_present = std::move(status);
    }
    if (first_present) return *first_present;
    ImageStatus missing;
    missing.path = beside_path(source);
    missing.freshness = Freshness::missing;
    return missing;
}

}  // namespace bindguard::image

namespace bindguard::image {
namespace {

// True when this process may create files in the directory of path.
bool directory_writable(const std::string& path) {
    const auto slash = path.rfind('/');
    const std::string directory = slash == 0 ? "/" : path.substr(0, slash);
    return access(directory.c_str(), W_OK | X_OK) == 0;
}

// Makes the directories of path's parent (0755), as mkdir -p.
void make_parents(const std::string& path) {
    for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1))
        mkdir(path.substr(0, slash).c_str(), 0755);
}

}  // namespace

Policy process_policy(const PolicyImage& image, const std::string& program, const std::string& command,
                      const std::string& service) {
    const ProcessPolicy process(image, program.c_str(), command.c_str(), service.c_str());
    Policy out;
    out.source = image.source_path();
    out.version = image.header().settings.version;
    out.mode = image.mode();
    out.loopback_ipv4 = image.loopback_ipv4();
    out.loopback_ipv6 = image.loopback_ipv6();
    out.dual_stack = image.dual_stack();
    out.default_action = image.default_action();
    out.udp_ephemeral = image.udp_ephemeral();
    out.log.to = image.log_to();
    out.log.path = image.log_path();
    out.log.format = image.log_format();
    out.log.level = image.log_level();
    out.log.rate = image.log_rate();
    out.children_inherit = image.children_inherit();
    for (std::uint32_t i = 0; i < image.rule_count(); ++i) {
        if (!process.applies(i)) continue;
        const bg_image_rule& stored = *image.rule(i);
        Rule rule;
        rule.name = image.string(stored.name);
        rule.action = static_cast<Action>(stored.action);
        rule.protocol = static_cast<Protocol>(stored.protocol);
        rule.position = {stored.line, stored.column};
        for (std::uint32_t c = 0; c < stored.cidr_count; ++c) {
            const bg_image_cidr& cidr = *image.element<bg_image_cidr>(BG_SECTION_CIDRS, std::uint64_t{stored.cidr_first} + c);
            Cidr made;
            made.family = cidr.family == 4 ? AF_INET : AF_INET6;
            std::memcpy(made.bytes.data(), cidr.bytes, 16);
            made.prefix = cidr.prefix;
            rule.addresses.push_back(made);
        }
        for (std::uint32_t p = 0; p < stored.port_count; ++p) {
            const bg_image_port& port = *image.element<bg_image_port>(BG_SECTION_PORTS, std::uint64_t{stored.port_first} + p);
            rule.ports.push_back({port.first, port.last});
        }
        out.rules.push_back(std::move(rule));
    }
    detail::index_rules(out);
    return out;
}

Policy process_policy(const Policy& policy, const std::string& program, const std::string& command,
                      const std::string& service) {
    const std::vector<unsigned char> bytes = compile(policy, SourceIdentity{policy.source});
    PolicyImage view;
    if (PolicyImage::check(bytes.data(), bytes.size(), true, view) != Problem::none)
        return fail_closed_policy(policy.source);  // cannot happen: compile() writes what check() reads
    return process_policy(view, program, command, service);
}

std::string source_name(const std::string& path) {
    std::error_code error;
    std::filesystem::path made = std::filesystem::absolute(path, error);
    if (error) made = path;
    std::string normal = made.lexically_normal().string();
    while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
    return normal;
}

std::string write_atomically(const std::string& path, const std::vector<unsigned char>& bytes) {
    std::string temporary = path + ".XXXXXX";
    const int fd = mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) return std::string("cannot create a file beside ") + path + ": " + std::strerror(errno);
    std::size_t written = 0;
    int error = 0;
    while (written < bytes.size()) {
        const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = errno;
            break;
        }
        written += static_cast<std::size_t>(n);
    }
    if (error == 0 && fchmod(fd, 0644) != 0) error = errno;
    if (error == 0 && fsync(fd) != 0) error = errno;
    if (close(fd) != 0 && error == 0) error = errno;
    if (error == 0 && rename(temporary.c_str(), path.c_str()) != 0) error = errno;
    if (error != 0) {
        unlink(temporary.c_str());
        return std::string("cannot write ") + path + ": " + std::strerror(error);
    }
    return {};
}

CompileOutcome compile_file(const std::string& path, Warnings warnings) {
    CompileOutcome outcome;
    outcome.source = source_name(path);
    // One open, fstat and read: the image records the identity of the very file parsed
    // (a file that changes afterwards makes the image stale at once, never wrong).
    std::string text;
    struct stat st {};
    LoadResult loaded = detail::load_policy_file(outcome.source, warnings, text, st);
    outcome.diagnostics = std::move(loaded.diagnostics);
    if (!loaded.ok()) return outcome;
    SourceIdentity identity;
    identity.path = outcome.source;
    identity.device = static_cast<std::uint64_t>(st.st_dev);
    identity.inode = static_cast<std::uint64_t>(st.st_ino);
    identity.size = static_cast<std::uint64_t>(st.st_size);
    identity.mtime_sec = st.st_mtim.tv_sec;
    identity.mtime_nsec = st.st_mtim.tv_nsec;
    identity.content_hash = hash(text.data(), text.size());
    std::string error;
    const std::vector<unsigned char> bytes = compile(*loaded.policy, identity);
    std::vector<std::string> places{beside_path(outcome.source)};
    if (geteuid() == 0) places.push_back(system_cache_path(outcome.source));
    if (const std::string user = user_cache_path(outcome.source); !user.empty()) places.push_back(user);
    for (const std::string& place : places) {
        if (place != places.front()) make_parents(place);
        if (!directory_writable(place)) continue;
        error = write_atomically(place, bytes);
        if (error.empty()) {
            outcome.ok = true;
            outcome.image_path = place;
            // An image in a place the library looks at first would win if it were
            // fresh; an older one there is stale and skipped, so nothing else to do.
            return outcome;
        }
    }
    outcome.error = error.empty() ? "no place to write the image of " + outcome.source +
                                        " (its directory, " BG_IMAGE_SYSTEM_CACHE " and the user's cache are not writable)"
                                  : error;
    return outcome;
}

}  // namespace bindguard::image
