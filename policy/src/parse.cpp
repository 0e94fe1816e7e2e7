// Parsing and validation of policy files (format version 1) with toml++.
// Every problem becomes a Diagnostic with its line and column; all are collected in
// one pass and returned in file order.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <toml++/toml.h>

#include "bindguard/policy.hpp"
#include "internal.hpp"
#include "rule_index.hpp"

namespace bindguard {

using namespace detail;

namespace {

constexpr std::size_t kMaxPolicyBytes = 1 << 20;
constexpr const char* kReservedRuleNames[] = {"default", "loopback", "udp-ephemeral"};

SourcePosition position_of(const toml::source_region& region) {
    return {region.begin.line, region.begin.column};
}

// "a string", "an integer", ...: the type of a node for "expected X, got Y" messages.
const char* type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a floating-point number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        default: return "nothing";
    }
}

template <class T>
constexpr const char* expected_name() {
    if constexpr (std::is_same_v<T, std::string>) return "a string";
    else if constexpr (std::is_same_v<T, std::int64_t>) return "an integer";
    else if constexpr (std::is_same_v<T, bool>) return "a boolean";
    else return "a table";
}

std::string quoted(std::string_view text) { return "\"" + std::string(text) + "\""; }

// A decimal number of at most 9 digits (so it cannot overflow), or nullopt.
std::optional<std::int64_t> parse_decimal(std::string_view text) {
    if (text.empty() || text.size() > 9) return std::nullopt;
    std::int64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return value;
}

// Validates one policy document and builds the Policy from it.
class Validator {
public:
    Validator(std::string_view file, Warnings warnings) : file_(file), warnings_(warnings) { policy_.source = file_; }

    // Parses text and validates everything in it.
    LoadResult run(std::string_view text);

private:
    std::string file_;
    Warnings warnings_;
    Policy policy_;
    std::vector<Diagnostic> diagnostics_;
    // The line of the first rule of each name, for the duplicate check (a scan of the
    // earlier rules made parsing quadratic in the number of rules).
    std::unordered_map<std::string, std::uint32_t> rule_lines_;

    void report(Diagnostic::Severity severity, SourcePosition where, std::string message) {
        if (severity == Diagnostic::Severity::warning && warnings_ == Warnings::skip) return;
        diagnostics_.push_back({severity, file_, where, std::move(message)});
    }
    void error(SourcePosition where, std::string message) {
        report(Diagnostic::Severity::error, where, std::move(message));
    }
    void error(const toml::node& node, std::string message) { error(position_of(node.source()), std::move(message)); }

    void check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                    std::string_view where);
    template <class T>
    const toml::value<T>* get(const toml::table& table, std::string_view key, const std::string& path);
    const toml::table* section(const toml::table& root, std::string_view key);
    template <class E>
    void read_enum(const toml::table& table, std::string_view key, const std::string& path,
                   std::span<const EnumName<E>> names, E& out);

    void read_version(const toml::table& root);
    void read_loopback(const toml::table& table);
    void read_default(const toml::table& table);
    void read_log(const toml::table& table);
    void read_children(const toml::table& table);
    void read_rules(const toml::table& root);
    void read_rule(const toml::table& table, std::size_t number);
    void read_addresses(const toml::node& node, std::vector<Cidr>& out);
    void read_address(const toml::node& node, std::vector<Cidr>& out);
    void read_ports(const toml::node& node, std::vector<PortRange>& out);
    void read_port(const toml::node& node, std::vector<PortRange>& out);
    std::optional<std::uint16_t> port_number(const toml::node& node, std::int64_t value, std::string_view text);
};

// Reports every key of table that is not in allowed, at the key's position.
void Validator::check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                           std::string_view where) {
    for (auto&& [key, node] : table) {
        if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
        std::string list;
        for (auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
        error(position_of(key.source()),
              "unknown key " + quoted(key.str()) + " " + std::string(where) + " (allowed: " + list + ")");
    }
}

// The value of key when it has type T; nullptr when absent (silently) or of another type (an error).
template <class T>
const toml::value<T>* Validator::get(const toml::table& table, std::string_view key, const std::string& path) {
    const toml::node* node = table.get(key);
    if (node == nullptr) return nullptr;
    if (const auto* value = node->as<T>()) return value;
    error(*node, path + ": expected " + expected_name<T>() + ", got " + type_name(node->type()));
    return nullptr;
}

// The table [key] of root; nullptr when absent (silently) or not a table (an error).
const toml::table* Validator::section(const toml::table& root, std::string_view key) {
    const toml::node* node = root.get(key);
    if (node == nullptr) return nullptr;
    if (const auto* table = node->as_table()) return table;
    error(*node, std::string(key) + ": expected a table ([" + std::string(key) + "]), got " + type_name(node->type()));
    return nullptr;
}

// Sets out from the string at key when it is one of names; reports anything else.
template <class E>
void Validator::read_enum(const toml::table& table, std::string_view key, const std::string& path,
                          std::span<const EnumName<E>> names, E& out) {
    const auto* value = get<std::string>(table, key, path);
    if (value == nullptr) return;
    if (const auto parsed = value_of(names, value->get()))
        out = *parsed;
    else
        error(*value, path + ": " + quoted(value->get()) + " is not one of " + names_list(names));
}

LoadResult Validator::run(std::string_view text) {
    if (const auto problem = find_toml_unsafe_text(text)) {  // before toml++ can misbehave on it
        error(problem->position, problem->message);
        return {std::nullopt, std::move(diagnostics_)};
    }
    const toml::parse_result parsed = toml::parse(text, file_);
    if (!parsed) {
        const auto& failure = parsed.error();
        error(position_of(failure.source()), "TOML syntax error: " + std::string(failure.description()));
        return {std::nullopt, std::move(diagnostics_)};
    }
    const toml::table& root = parsed.table();
    check_keys(root, {"version", "mode", "loopback", "default", "log", "rule", "children"}, "at top level");
    read_version(root);
    read_enum<Mode>(root, "mode", "mode", kModeNames, policy_.mode);
    if (const auto* table = section(root, "loopback")) read_loopback(*table);
    if (const auto* table = section(root, "default")) read_default(*table);
    if (const auto* table = section(root, "log")) read_log(*table);
    if (const auto* table = section(root, "children")) read_children(*table);
    read_rules(root);

    const bool failed = std::any_of(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& d) {
        return d.severity == Diagnostic::Severity::error;
    });
    if (!failed && warnings_ == Warnings::report) find_shadowed_rules(policy_.rules, file_, diagnostics_);
    std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.position.line, a.position.column) < std::tie(b.position.line, b.position.column);
    });
    LoadResult result;
    if (!failed) {
        index_rules(policy_);
        result.policy = std::move(policy_);
    }
    result.diagnostics = std::move(diagnostics_);
    return result;
}

void Validator::read_version(const toml::table& root) {
    if (!root.contains("version")) {
        error({1, 1}, "missing version (the first line of a policy is version = 1)");
        return;
    }
    const auto* version = get<std::int64_t>(root, "version", "version");
    if (version != nullptr && version->get() != 1)
        error(*version, "version: unsupported version " + std::to_string(version->get()) +
                            " (this bindguard supports version 1)");
}

void Validator::read_loopback(const toml::table& table) {
    check_keys(table, {"ipv4", "ipv6", "dual_stack"}, "in [loopback]");
    if (const auto* ipv4 = get<std::string>(table, "ipv4", "loopback.ipv4")) {
        Endpoint ep{AF_INET};
        if (inet_pton(AF_INET, ipv4->get().c_str(), ep.bytes.data()) != 1)
            error(*ipv4, "loopback.ipv4: " + quoted(ipv4->get()) + " is not an IPv4 address");
        else if (!is_loopback(ep))
            error(*ipv4, "loopback.ipv4: " + quoted(ipv4->get()) + " is not in 127.0.0.0/8");
        else
            policy_.loopback_ipv4 = ep;
    }
    if (const auto* ipv6 = get<std::string>(table, "ipv6", "loopback.ipv6")) {
        Endpoint ep{AF_INET6};
        if (inet_pton(AF_INET6, ipv6->get().c_str(), ep.bytes.data()) != 1)
            error(*ipv6, "loopback.ipv6: " + quoted(ipv6->get()) + " is not an IPv6 address");
        else if (ep != Policy{}.loopback_ipv6)
            error(*ipv6, "loopback.ipv6: " + quoted(ipv6->get()) + " is not ::1 (the only IPv6 loopback address)");
    }
    read_enum<DualStack>(table, "dual_stack", "loopback.dual_stack", kDualStackNames, policy_.dual_stack);
}

void Validator::read_default(const toml::table& table) {
    check_keys(table, {"action", "udp_ephemeral"}, "in [default]");
    read_enum<Action>(table, "action", "default.action", kActionNames, policy_.default_action);
    read_enum<UdpEphemeral>(table, "udp_ephemeral", "default.udp_ephemeral", kUdpEphemeralNames,
                            policy_.udp_ephemeral);
}

void Validator::read_log(const toml::table& table) {
    check_keys(table, {"to", "path", "format", "level", "rate"}, "in [log]");
    LogSettings& log = policy_.log;
    read_enum<LogSink>(table, "to", "log.to", kLogSinkNames, log.to);
    const auto* path = get<std::string>(table, "path", "log.path");
    if (path != nullptr) {
        log.path = path->get();
        if (log.path.empty() || log.path.front() != '/')
            error(*path, "log.path: " + quoted(log.path) + " is not an absolute path");
        else if (log.to != LogSink::file)
            report(Diagnostic::Severity::warning, position_of(path->source()),
                   "log.path is ignored unless log.to = \"file\"");
    }
    if (log.to == LogSink::file && path == nullptr && !table.contains("path"))
        error(*table.get("to"), "log.to = \"file\" needs log.path (the file to append to)");
    read_enum<LogFormat>(table, "format", "log.format", kLogFormatNames, log.format);
    read_enum<LogLevel>(table, "level", "log.level", kLogLevelNames, log.level);
    if (const auto* rate = get<std::int64_t>(table, "rate", "log.rate")) {
        if (rate->get() < 0 || rate->get() > std::numeric_limits<std::uint32_t>::max())
            error(*rate, "log.rate: " + std::to_string(rate->get()) +
                             " is out of range (allowed: 0 = no limit, or up to 4294967295 lines per second)");
        else
            log.rate = static_cast<std::uint32_t>(rate->get());
    }
}

void Validator::read_children(const toml::table& table) {
    check_keys(table, {"inherit"}, "in [children]");
    if (const auto* inherit = get<bool>(table, "inherit", "children.inherit")) policy_.children_inherit = inherit->get();
}

void Validator::read_rules(const toml::table& root) {
    const toml::node* node = root.get("rule");
    if (node == nullptr) return;
    const auto* rules = node->as_array();
    if (rules == nullptr || !rules->is_array_of_tables()) {
        error(*node, std::string("rule: expected an array of tables ([[rule]]), got ") +
                         (rules ? "an array of other values" : type_name(node->type())));
        return;
    }
    for (std::size_t i = 0; i < rules->size(); ++i) read_rule(*rules->get_as<toml::table>(i), i + 1);
}

void Validator::read_rule(const toml::table& table, std::size_t number) {
    Rule rule;
    rule.position = position_of(table.source());
    std::string label = "[[rule]] #" + std::to_string(number);
    if (const auto* name = get<std::string>(table, "name", "rule.name")) {
        rule.name = name->get();
        label = "[[rule]] " + quoted(rule.name);
        const auto reserved = std::find(std::begin(kReservedRuleNames), std::end(kReservedRuleNames), rule.name);
        const auto [earlier, first_use] = rule_lines_.try_emplace(rule.name, rule.position.line);
        if (rule.name.empty())
            error(*name, "rule.name: must not be empty");
        else if (reserved != std::end(kReservedRuleNames))
            error(*name, "rule.name: " + quoted(rule.name) +
                             " is reserved (default, loopback and udp-ephemeral name built-in decisions)");
        else if (!first_use)
            error(*name, "rule.name: duplicate rule name " + quoted(rule.name) + " (first used by the rule at line " +
                             std::to_string(earlier->second) + ")");
    } else if (!table.contains("name")) {
        error(rule.position, label + " has no name (every rule needs a unique name)");
    }
    check_keys(table, {"name", "action", "program", "command", "service", "address", "port", "protocol"},
               "in " + label);
    if (!table.contains("action"))
        error(rule.position, label + " has no action (allowed: " + names_list<Action>(kActionNames) + ")");
    read_enum<Action>(table, "action", "rule.action", kActionNames, rule.action);
    for (auto [key, filter] : {std::pair{"program", &rule.program}, std::pair{"command", &rule.command},
                               std::pair{"service", &rule.service}})
        if (const auto* value = get<std::string>(table, key, std::string("rule.") + key)) *filter = value->get();
    if (const auto* address = table.get("address")) read_addresses(*address, rule.addresses);
    if (const auto* port = table.get("port")) read_ports(*port, rule.ports);
    read_enum<Protocol>(table, "protocol", "rule.protocol", kRuleProtocolNames, rule.protocol);
    policy_.rules.push_back(std::move(rule));
}

// address = "CIDR" or ["CIDR", ...]; an empty array is an error (omit the key to match any address).
void Validator::read_addresses(const toml::node& node, std::vector<Cidr>& out) {
    if (const auto* array = node.as_array()) {
        if (array->empty()) error(node, "rule.address: empty array (omit address to match any address)");
        for (const auto& element : *array) read_address(element, out);
    } else {
        read_address(node, out);
    }
}

// One "a.b.c.d[/N]" or "x::y[/N]"; a plain address is a /32 or /128.
void Validator::read_address(const toml::node& node, std::vector<Cidr>& out) {
    const auto* value = node.as_string();
    if (value == nullptr) {
        error(node, std::string("rule.address: expected a string or an array of strings, got ") + type_name(node.type()));
        return;
    }
    const std::string& text = value->get();
    const auto slash = text.find('/');
    const std::string host = text.substr(0, slash);
    Cidr cidr;
    cidr.family = host.find(':') == std::string::npos ? AF_INET : AF_INET6;
    const unsigned max_prefix = cidr.family == AF_INET ? 32 : 128;
    if (inet_pton(cidr.family, host.c_str(), cidr.bytes.data()) != 1) {
        error(node, "rule.address: " + quoted(text) + " is not an IPv4 or IPv6 address or CIDR");
        return;
    }
    std::optional<std::int64_t> prefix = max_prefix;
    if (slash != std::string::npos) prefix = parse_decimal(std::string_view(text).substr(slash + 1));
    if (!prefix || *prefix > max_prefix) {
        error(node, "rule.address: " + quoted(text) + " has a bad prefix length (allowed: /0-/" +
                        std::to_string(max_prefix) + (cidr.family == AF_INET ? " for IPv4)" : " for IPv6)"));
        return;
    }
    cidr.prefix = static_cast<std::uint8_t>(*prefix);
    // Clear the host bits, and warn when there were any: "10.0.0.1/8" means 10.0.0.0/8.
    const auto original = cidr.bytes;
    for (unsigned bit = cidr.prefix; bit < max_prefix; ++bit)
        cidr.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    if (cidr.bytes != original) {
        char network[INET6_ADDRSTRLEN];
        inet_ntop(cidr.family, cidr.bytes.data(), network, sizeof network);
        report(Diagnostic::Severity::warning, position_of(node.source()),
               "rule.address: " + quoted(text) + " has host bits set; it means " + network + "/" +
                   std::to_string(cidr.prefix));
    }
    out.push_back(cidr);
}

// port = 80, "80", "8000-8099", or an array of those; an empty array is an error.
void Validator::read_ports(const toml::node& node, std::vector<PortRange>& out) {
    if (const auto* array = node.as_array()) {
        if (array->empty()) error(node, "rule.port: empty array (omit port to match any port)");
        for (const auto& element : *array) read_port(element, out);
    } else {
        read_port(node, out);
    }
}

void Validator::read_port(const toml::node& node, std::vector<PortRange>& out) {
    if (const auto* number = node.as_integer()) {
        if (const auto port = port_number(node, number->get(), std::to_string(number->get())))
            out.push_back({*port, *port});
        return;
    }
    const auto* value = node.as_string();
    if (value == nullptr) {
        error(node, std::string("rule.port: expected a port (80, \"80\" or \"8000-8099\") or an array of them, got ") +
                        type_name(node.type()));
        return;
    }
    const std::string_view text = value->get();
    const auto dash = text.find('-');
    const auto first_text = text.substr(0, dash);
    const auto last_text = dash == std::string_view::npos ? first_text : text.substr(dash + 1);
    const auto first_value = parse_decimal(first_text), last_value = parse_decimal(last_text);
    if (!first_value || !last_value) {
        error(node, "rule.port: " + quoted(text) + " is not a port or range (allowed: 0-65535, or \"A-B\")");
        return;
    }
    const auto first = port_number(node, *first_value, first_text);
    if (dash == std::string_view::npos) {
        if (first) out.push_back({*first, *first});
        return;
    }
    const auto last = port_number(node, *last_value, last_text);
    if (!first || !last) return;
    if (*first > *last)
        error(node, "rule.port: range " + quoted(text) + " is inverted (write the lower port first)");
    else
        out.push_back({*first, *last});
}

// value as a port; reports "port N out of range 0-65535" and returns nullopt when it is not one.
std::optional<std::uint16_t> Validator::port_number(const toml::node& node, std::int64_t value, std::string_view text) {
    if (value >= 0 && value <= 65535) return static_cast<std::uint16_t>(value);
    error(node, "rule.port: port " + std::string(text) + " out of range 0-65535");
    return std::nullopt;
}

// A diagnostic at FILE:1:1, for files that cannot be read at all.
LoadResult file_error(const std::string& path, std::string message) {
    LoadResult result;
    result.diagnostics.push_back({Diagnostic::Severity::error, path, {1, 1}, std::move(message)});
    return result;
}

}  // namespace

std::string Diagnostic::to_string() const {
    return file + ":" + std::to_string(position.line) + ":" + std::to_string(position.column) + ": " +
           (severity == Severity::error ? "error: " : "warning: ") + message;
}

LoadResult parse_policy(std::string_view text, std::string_view source_name, Warnings warnings) {
    return Validator(source_name, warnings).run(text);
}

LoadResult load_policy_file(const std::string& path, Warnings warnings) {
    std::string text;
    struct stat st {};
    return detail::load_policy_file(path, warnings, text, st);
}

LoadResult detail::load_policy_file(const std::string& path, Warnings warnings, std::string& text,
                                    struct stat& st) {
    // O_NONBLOCK: opening a FIFO must not hang; it is then refused as not a regular file.
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return file_error(path, std::string("cannot open policy: ") + std::strerror(errno));
    struct FdCloser {
        int fd;
        ~FdCloser() { close(fd); }
    } closer{fd};
    if (fstat(fd, &st) != 0) return file_error(path, std::string("cannot read policy: ") + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) return file_error(path, "is a directory, not a policy file");
    if (!S_ISREG(st.st_mode)) return file_error(path, "is not a regular file, not a policy file");
    text.clear();
    char chunk[8192];
    for (;;) {
        const ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return file_error(path, std::string("cannot read policy: ") + std::strerror(errno));
        if (n == 0) break;
        text.append(chunk, static_cast<std::size_t>(n));
        if (text.size() > kMaxPolicyBytes) return file_error(path, "policy file is larger than 1 MiB");
    }
    return parse_policy(text, path, warnings);
}

std::string_view builtin_policy_text() noexcept {
    static constexpr std::string_view text =
#include "builtin_policy.inc"
        ;
    return text;
}

// Built without parsing the embedded text: Policy's member defaults are the built-in
// policy, and the unit test Builtin.EqualsDefaultExample holds them equal to the parse of
// examples/policy/default.toml, field by field. Every process without a policy file
// gets it at start-up, so it costs no TOML parse there.
Policy builtin_policy() {
    Policy policy;
    policy.source = "<built-in>";
    return policy;
}

Policy fail_closed_policy(std::string_view source) {
    Policy policy;
    policy.source = source;
    policy.default_action = Action::deny;
    return policy;
}

}  // namespace bindguard
