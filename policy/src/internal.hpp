// Internal to bindguard_policy: enum spellings (shared by the parser and to_string())
// and helpers shared between the source files.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bindguard/decision_settings.hpp"
#include "bindguard/policy.hpp"

namespace bindguard::detail {

template <class E>
struct EnumName {
    E value;
    const char* name;
};

inline constexpr EnumName<Mode> kModeNames[] = {{Mode::enforce, "enforce"}, {Mode::audit, "audit"}};
inline constexpr EnumName<Action> kActionNames[] = {
    {Action::allow, "allow"}, {Action::rewrite, "rewrite"}, {Action::deny, "deny"}};
// Only tcp, udp and any may be written in a rule; "other" exists for requests.
inline constexpr EnumName<Protocol> kRuleProtocolNames[] = {
    {Protocol::tcp, "tcp"}, {Protocol::udp, "udp"}, {Protocol::any, "any"}};
inline constexpr EnumName<DualStack> kDualStackNames[] = {{DualStack::ipv4, "ipv4"},
                                                          {DualStack::ipv6, "ipv6"}};
inline constexpr EnumName<UdpEphemeral> kUdpEphemeralNames[] = {{UdpEphemeral::allow, "allow"},
                                                                {UdpEphemeral::apply, "apply"}};
inline constexpr EnumName<LogSink> kLogSinkNames[] = {{LogSink::stderr_sink, "stderr"},
                                                      {LogSink::file, "file"},
                                                      {LogSink::syslog, "syslog"},
                                                      {LogSink::none, "none"}};
inline constexpr EnumName<LogFormat> kLogFormatNames[] = {{LogFormat::text, "text"},
                                                          {LogFormat::json, "json"}};
inline constexpr EnumName<LogLevel> kLogLevelNames[] = {{LogLevel::error, "error"},
                                                        {LogLevel::warn, "warn"},
                                                        {LogLevel::info, "info"},
                                                        {LogLevel::debug, "debug"}};

// The name of value in table, or "?" when it has none.
template <class E>
constexpr const char* name_of(std::span<const EnumName<E>> table, E value) noexcept {
    for (const auto& entry : table)
        if (entry.value == value) return entry.name;
    return "?";
}

// The value spelled text in table, or nullopt.
template <class E>
constexpr std::optional<E> value_of(std::span<const EnumName<E>> table, std::string_view text) noexcept {
    for (const auto& entry : table)
        if (text == entry.name) return entry.value;
    return std::nullopt;
}

// "a, b, c": the allowed spellings, for error messages.
template <class E>
std::string names_list(std::span<const EnumName<E>> table) {
    std::string out;
    for (const auto& entry : table) {
        if (!out.empty()) out += ", ";
        out += entry.name;
    }
    return out;
}

// fnmatch(3) with flags 0 of subject against pattern; subject is copied into a
// stack buffer so that no allocation happens. A subject of kMaxGlobSubject
// characters or more never matches.
inline constexpr std::size_t kMaxGlobSubject = 4096;
bool glob_matches(const char* pattern, std::string_view subject) noexcept;

// True when ep is an AF_INET6 endpoint of the form ::ffff:a.b.c.d.
bool is_v4_mapped(const Endpoint& ep) noexcept;

// load_policy_file() that also gives the text it parsed and the fstat() of the file it
// read it from: the compiler records that very file's identity, read once.
LoadResult load_policy_file(const std::string& path, Warnings warnings, std::string& text, struct stat& st);

// DecisionSettings: bindguard/decision_settings.hpp.

// loopback_for() of policy.hpp, given the settings.
Endpoint loopback_target(const DecisionSettings& settings, const Endpoint& requested, bool v6only) noexcept;

// The decision for action taken by the rule called name. A rewrite whose target is the
// address asked for changes nothing, so it is an allow: nothing is logged for it, and
// listen() accepts a socket that an earlier rewrite already put on that target.
Decision rule_decision(const DecisionSettings& settings, const Request& request, Action action,
                       const char* name) noexcept;

// The decision when no rule matches: loopback binds are allowed, wildcard UDP binds to
// port 0 are allowed when udp_ephemeral = "allow", every other bind gets default_action.
Decision decision_without_rule(const DecisionSettings& settings, const Request& request) noexcept;

// True when port is in one of the ranges (count 0: any port).
template <class Range>
bool port_matches(const Range* ranges, std::size_t count, std::uint16_t port) noexcept {
    if (count == 0) return true;
    for (std::size_t i = 0; i < count; ++i)
        if (ranges[i].first <= port && port <= ranges[i].last) return true;
    return false;
}

// True when a rule's protocol filter admits the request's protocol.
inline bool protocol_matches(Protocol filter, Protocol requested) noexcept {
    return filter == Protocol::any || filter == requested;
}

// Appends a warning for every rule that can never match because an earlier rule
// matches everything it does (filters, protocol, addresses and ports).
void find_shadowed_rules(const std::vector<Rule>& rules, const std::string& file,
                         std::vector<Diagnostic>& out);

// Text that toml++ 3.3.0 (Debian 12) cannot be given safely: a non-ASCII code
// point where it asks "is this whitespace?" reaches a __builtin_unreachable()
// (undefined behaviour; marzer/tomlplusplus#190, #295, fixed upstream by #305),
// found by fuzz/fuzz_policy. That is any non-ASCII character outside strings and
// comments (invalid TOML anyway), and one right after a backslash in a
// multi-line basic string (also after the whitespace a line-ending backslash
// skips), and any control character but tab, newline and carriage return
// (invalid TOML; after one toml++ may misjudge what is a string). Returns where
// the first one is, with a message, or nullopt.
struct TextProblem {
    SourcePosition position;
    const char* message;
};
std::optional<TextProblem> find_toml_unsafe_text(std::string_view text);

}  // namespace bindguard::detail
