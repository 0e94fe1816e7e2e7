// Reading a compiled policy image (bindguard/image.h) and deciding from it.
//
// This is the part of the policy library that the preload library runs: it parses no
// text, never allocates, never throws, takes no lock, and needs nothing of the C++
// runtime (it is built freestanding: bindguard_policy_core). Every offset in the image
// is checked before it is followed, so any bytes are either refused by check() or
// decided from; the decisions are held to decide() on the parsed policy by the
// differential tests (tests/unit/image_test.cpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "bindguard/decision_settings.hpp"
#include "bindguard/image.h"
#include "bindguard/policy.hpp"

namespace bindguard::image {

// Why an image cannot be used.
enum class Problem : std::uint8_t {
    none,
    not_an_image,    // too short for a header, or not the magic
    other_format,    // written by a bindguard with another image format
    other_machine,   // written on a machine of another architecture or byte order
    truncated,       // shorter (or longer) than its header says
    corrupt,         // the checksum does not match
    bad_layout,      // a section or setting out of range
};

// "is not a compiled policy image", "was compiled for another image format", ...
const char* describe(Problem problem) noexcept;

// The hash used for the checksum and the source's content (64-bit, not cryptographic).
std::uint64_t hash(const void* data, std::size_t size) noexcept;

// This machine's BG_IMAGE_ARCH_CODE.
std::uint32_t this_arch() noexcept;

// The file name of the image of the source at path (absolute) in a cache directory:
// 16 hex digits of hash(path) and BG_IMAGE_SUFFIX, NUL-terminated, into out.
inline constexpr std::size_t kCacheKeySize = 16 + sizeof(BG_IMAGE_SUFFIX);
void cache_key(const char* path, std::size_t length, char (&out)[kCacheKeySize]) noexcept;

// True when the source file's identity now (its stat) is the one stored in the image.
struct SourceStat {
    std::uint64_t device, inode, size;
    std::int64_t mtime_sec, mtime_nsec;
};
bool same_source(const bg_image_source& stored, const SourceStat& now) noexcept;
// The SourceStat of a stat(2) result.
template <class Stat>
SourceStat source_stat_of(const Stat& st) noexcept {
    return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
            static_cast<std::uint64_t>(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec};
}

// The user's cache directory of images into out: XDG_CACHE_HOME/bindguard, else
// HOME/.cache/bindguard (each only when absolute; nullptr when unset). Returns false,
// with out "", when there is none or it does not fit.
bool user_cache_directory(const char* xdg_cache_home, const char* home, char* out, std::size_t size) noexcept;

// An image that passed check(). It points into the caller's bytes, which must stay
// mapped and unchanged as long as it (and anything decided from it) is used.
class PolicyImage {
public:
    // Checks the header, the section table and the settings; with verify_checksum
    // also the checksum (reads every byte). On success fills out and returns none.
    static Problem check(const void* data, std::size_t size, bool verify_checksum, PolicyImage& out) noexcept;

    const bg_image_header& header() const noexcept { return *header_; }
    std::size_t size() const noexcept { return size_; }

    // The string at offset, or "" when offset is not inside the strings section.
    const char* string(std::uint32_t offset) const noexcept;

    Mode mode() const noexcept;
    Action default_action() const noexcept;
    DualStack dual_stack() const noexcept;
    UdpEphemeral udp_ephemeral() const noexcept;
    bool children_inherit() const noexcept { return header_->settings.children_inherit != 0; }
    LogSink log_to() const noexcept;
    LogFormat log_format() const noexcept;
    LogLevel log_level() const noexcept;
    std::uint32_t log_rate() const noexcept { return header_->settings.log_rate; }
    const char* log_path() const noexcept { return string(header_->settings.log_path); }
    const char* source_path() const noexcept { return string(header_->source_path); }
    Endpoint loopback_ipv4() const noexcept;
    Endpoint loopback_ipv6() const noexcept;

    std::uint32_t rule_count() const noexcept { return header_->rule_count; }
    // Rule i, or nullptr when i is out of range.
    const bg_image_rule* rule(std::uint32_t i) const noexcept;
    // Group i, or nullptr when out of range or when its arrays do not fit the image.
    const bg_image_group* group(std::uint32_t i) const noexcept;
    // The position of the group of the rules whose service filter is service, or
    // BG_IMAGE_NONE (no such group, or an empty service).
    std::uint32_t service_group(const char* service) const noexcept;

    // Element i of a section's array, or nullptr when out of range.
    template <class T>
    const T* element(bg_image_section section, std::uint64_t i) const noexcept {
        const bg_image_section_ref& ref = header_->sections[section];
        if (i >= ref.size / sizeof(T)) return nullptr;
        return reinterpret_cast<const T*>(base_ + ref.offset) + i;
    }
    std::uint64_t elements(bg_image_section section, std::size_t element_size) const noexcept {
        return header_->sections[section].size / element_size;
    }

private:
    const unsigned char* base_ = nullptr;
    const bg_image_header* header_ = nullptr;
    std::size_t size_ = 0;
};

// Filter results of one process's rules, remembered as they are first needed: each
// byte is 0 (not known yet), 1 (the rule's program and command filters match the
// process) or 2 (they do not). Storage of the caller's (the library: static storage);
// rules past its end are matched each time.
struct FilterMemo {
    std::atomic<std::uint8_t>* bytes = nullptr;
    std::uint32_t size = 0;
};

// The rules of one image that can apply to one process (its program, command and
// service), found once; then decide() for each of its binds.
class ProcessPolicy {
public:
    ProcessPolicy() = default;
    // program, command and service must stay valid as long as this is used; nullptr
    // is taken as "". The service's group is found here (one binary search).
    ProcessPolicy(const PolicyImage& image, const char* program, const char* command, const char* service,
                  FilterMemo memo = {}) noexcept;

    // decide() of bindguard/policy.hpp for this process, from the image: the same
    // answer for every request (its program, command and service are not read:
    // those of the process are). The decision's rule points into the image.
    Decision decide(const Request& request) const noexcept;

    const PolicyImage& image() const noexcept { return image_; }
    // False when a group of this process cannot be read (a corrupt image): decide()
    // then allows loopback and denies everything else (rule "fail-closed").
    bool valid() const noexcept { return valid_; }
    // True when no rule that can apply to this process may match a loopback address.
    bool rules_may_match_loopback() const noexcept;
    // True when some rule that can apply to this process filters on the protocol.
    bool rules_filter_protocol() const noexcept;
    // rewrites_every_public_ipv4_bind() of policy.hpp: no rule can apply and the default rewrites.
    bool rewrites_every_public_ipv4_bind() const noexcept;
    // The address a rewrite sends requested to: loopback_for() of policy.hpp.
    Endpoint loopback_for(const Endpoint& requested, bool v6only) const noexcept;
    // True when the rule at position can apply to this process: its service filter is
    // unset or this process's service, and its program and command globs match (what
    // for_process() keeps). The kernel twin's rule set is made of these.
    bool applies(std::uint32_t position) const noexcept;

private:
    // The position of the first rule of group that matches request and this process,
    // below limit; limit when none does.
    std::uint32_t first_match(const bg_image_group* group, const Request& request, std::uint32_t limit) const noexcept;
    bool process_filters_match(std::uint32_t position, const bg_image_rule& rule) const noexcept;

    PolicyImage image_;
    detail::DecisionSettings settings_;        // read from the image once
    const bg_image_group* common_ = nullptr;   // group 0
    const bg_image_group* service_ = nullptr;  // the process's service group, or nullptr
    const char* program_ = "";
    const char* command_ = "";
    const char* service_name_ = "";
    FilterMemo memo_;
    bool valid_ = false;
};

}  // namespace bindguard::image
