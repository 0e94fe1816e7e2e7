// bindguard policy: the TOML format, its validation, and the pure decision function.
//
// This library is used by both the preload shim (shim/) and the command (cli/);
// it depends on neither. Parsing allocates and may do I/O (load_policy_file);
// decide() does neither: it reads an immutable Policy and writes only its result.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/socket.h>  // AF_INET, AF_INET6

namespace bindguard {

namespace detail {
class RuleIndex;  // policy/src/rule_index.hpp
}

enum class Mode : std::uint8_t { enforce, audit };
enum class Action : std::uint8_t { allow, rewrite, deny };
// Protocol of a request (tcp or udp; other for e.g. SCTP/raw) or the filter of a rule (tcp, udp, any).
enum class Protocol : std::uint8_t { tcp, udp, any, other };
enum class DualStack : std::uint8_t { ipv4, ipv6 };
enum class UdpEphemeral : std::uint8_t { allow, apply };
enum class LogSink : std::uint8_t { stderr_sink, file, syslog, none };
enum class LogFormat : std::uint8_t { text, json };
enum class LogLevel : std::uint8_t { error, warn, info, debug };

// Lower-case names as written in the policy file and in log lines ("rewrite", "tcp", ...).
const char* to_string(Mode) noexcept;
const char* to_string(Action) noexcept;
const char* to_string(Protocol) noexcept;
const char* to_string(LogLevel) noexcept;

// An IP endpoint. family is AF_INET or AF_INET6. For AF_INET the address is in bytes[0..3].
// port is in host byte order. scope_id is kept for AF_INET6 and cleared on rewrite.
struct Endpoint {
    int family = 0;
    std::array<std::uint8_t, 16> bytes{};
    std::uint16_t port = 0;
    std::uint32_t scope_id = 0;

    friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Parses "0.0.0.0:3000", "[::]:3000", "[::ffff:127.0.0.1]:80" (inet_pton for the address).
// Returns nullopt when the text is not ADDRESS:PORT with a port in 0-65535.
std::optional<Endpoint> parse_endpoint(std::string_view text);

// Writes "127.0.0.1:3000" or "[::1]:3000" into buf (NUL-terminated, truncated to size).
// Returns the number of characters written, excluding the NUL. Never allocates.
std::size_t format_endpoint(const Endpoint& ep, char* buf, std::size_t size) noexcept;

// 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104.
bool is_loopback(const Endpoint& ep) noexcept;
// 0.0.0.0, ::, ::ffff:0.0.0.0.
bool is_wildcard(const Endpoint& ep) noexcept;

// A CIDR as written in a rule. An AF_INET CIDR also matches v4-mapped AF_INET6 endpoints.
struct Cidr {
    int family = 0;
    std::array<std::uint8_t, 16> bytes{};  // already masked to prefix
    std::uint8_t prefix = 0;

    bool contains(const Endpoint& ep) const noexcept;
    bool covers(const Cidr& other) const noexcept;  // every address of other is in this
};

struct PortRange {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
};

// Where something is in a policy file (1-based; 0 when unknown).
struct SourcePosition {
    std::uint32_t line = 0;
    std::uint32_t column = 0;
};

struct Rule {
    std::string name;
    Action action = Action::allow;
    std::optional<std::string> program;  // fnmatch(3) glob on the resolved program path
    std::optional<std::string> command;  // fnmatch(3) glob on the command line (args joined by ' ')
    std::optional<std::string> service;  // equals BINDGUARD_SERVICE
    std::vector<Cidr> addresses;         // empty: any address
    std::vector<PortRange> ports;        // empty: any port
    Protocol protocol = Protocol::any;   // tcp, udp or any
    SourcePosition position;             // of the [[rule]] table
};

struct LogSettings {
    LogSink to = LogSink::stderr_sink;
    std::string path;  // required when to == file
    LogFormat format = LogFormat::text;
    LogLevel level = LogLevel::info;
    std::uint32_t rate = 50;  // lines per second per process; 0 = unlimited
};

// A validated policy. Immutable once built: decide() only reads it.
// A default-constructed Policy behaves like the built-in one (no rules, rewrite).
struct Policy {
    std::string source;  // the file it came from, or "<built-in>"
    int version = 1;
    Mode mode = Mode::enforce;
    Endpoint loopback_ipv4{AF_INET, {127, 0, 0, 1}};                              // port 0, in 127.0.0.0/8
    Endpoint loopback_ipv6{AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};  // port 0, ::1
    DualStack dual_stack = DualStack::ipv4;
    Action default_action = Action::rewrite;
    UdpEphemeral udp_ephemeral = UdpEphemeral::allow;
    LogSettings log;
    std::vector<Rule> rules;
    bool children_inherit = true;  // [children] inherit
    // The compiled index of rules, made by parse_policy() and for_process() for policies
    // of 8 rules or more, so that decide() costs the same for 10 rules or 10,000. Rules
    // are never changed after it is made; decide() scans when it is absent.
    std::shared_ptr<const detail::RuleIndex> index;
};

struct Diagnostic {
    enum class Severity : std::uint8_t { error, warning };
    Severity severity = Severity::error;
    std::string file;
    SourcePosition position;
    std::string message;

    // "FILE:LINE:COL: error: MESSAGE" (or "warning:").
    std::string to_string() const;
};

struct LoadResult {
    std::optional<Policy> policy;         // set only when there is no error
    std::vector<Diagnostic> diagnostics;  // errors and warnings, in file order

    bool ok() const noexcept { return policy.has_value(); }
};

// Whether parsing looks for warnings (rules shadowed by earlier ones, CIDRs with host bits
// set). The shadowing check compares every pair of rules, so a program that prints no
// warnings (the library) skips them and its start-up does not grow with the rules squared.
enum class Warnings : std::uint8_t { report, skip };

// Parses and validates policy text. source_name is used in diagnostics and Policy::source.
// Errors are always reported. Never throws except std::bad_alloc.
LoadResult parse_policy(std::string_view text, std::string_view source_name, Warnings warnings = Warnings::report);

// Reads and parses a file. A missing, unreadable or non-regular file is an error
// diagnostic at FILE:1:1 that says which.
LoadResult load_policy_file(const std::string& path, Warnings warnings = Warnings::report);

// The built-in policy: exactly examples/policy/default.toml, embedded at build time.
std::string_view builtin_policy_text() noexcept;
Policy builtin_policy();

// The fail-closed policy used when a named policy cannot be loaded: every
// non-loopback bind is denied, loopback binds are allowed, logs go to stderr.
Policy fail_closed_policy(std::string_view source);

// The rules of policy that can apply to one process: those whose program, command and
// service match, with those three filters then dropped. decide() on the result gives
// the same answer as on the full policy for every request of that process.
// (image::process_policy() is the same selection read from a compiled image.)
Policy for_process(const Policy& policy, std::string_view program, std::string_view command,
                   std::string_view service);

// Everything decide() needs about one bind.
struct Request {
    Endpoint address;  // AF_INET or AF_INET6 only
    Protocol protocol = Protocol::tcp;  // tcp, udp or other
    bool v6only = false;                // IPV6_V6ONLY of an AF_INET6 socket
    std::string_view program;           // resolved path of the executable
    std::string_view command;           // arguments joined by single spaces
    std::string_view service;           // BINDGUARD_SERVICE, empty when unset
};

struct Decision {
    Action action = Action::allow;
    Endpoint address;          // what the real bind() must receive (== request for allow/deny)
    const char* rule = "";     // "loopback", "default", "udp-ephemeral" or a rule's name;
                               // points into static storage or into the Policy
};

// The pure decision. Rules first (first match wins); then loopback binds are allowed,
// wildcard UDP binds to port 0 are allowed when udp_ephemeral = "allow", and every
// other bind gets default_action. A rewrite whose target equals the address asked for
// is returned as allow (with the rule that decided). Does not allocate, lock, or do I/O. The policy's
// mode is not applied here: in audit mode the caller logs the decision and binds
// the original address. A program or command longer than 4095 characters never
// matches a glob here (no allocation); for_process() has no such limit. (The preload
// library decides from the compiled image instead: image::ProcessPolicy, which the
// differential tests hold to this function.)
Decision decide(const Policy& policy, const Request& request) noexcept;

// True when decide() answers every AF_INET request for a non-loopback address and a
// port other than 0 the same way, whatever its program, command, service, protocol
// and v6only: rewrite to loopback_ipv4 with the same port (rule "default"). That
// holds for a policy without rules (as for_process() leaves most policies) whose
// default action is rewrite. A test holds this to decide(); the preload library asks the
// same of its compiled image (image::ProcessPolicy::rewrites_every_public_ipv4_bind()).
bool rewrites_every_public_ipv4_bind(const Policy& policy) noexcept;

// The address a rewrite sends a request to (same port): 127.0.0.1 for AF_INET and
// v4-mapped; for '::' the dual_stack target unless v6only; ::1 otherwise.
Endpoint loopback_for(const Policy& policy, const Endpoint& requested, bool v6only) noexcept;

// "rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000", "deny udp [::]:53 -> EACCES",
// "allow tcp 127.0.0.1:3000". With audit = true the action reads "would-rewrite" /
// "would-deny". Writes into buf (NUL-terminated); returns the length. Never allocates.
std::size_t describe(const Request& request, const Decision& decision, bool audit, char* buf,
                     std::size_t size) noexcept;

}  // namespace bindguard
