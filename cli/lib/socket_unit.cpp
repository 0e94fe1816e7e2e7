// Reading and judging systemd socket units (see socket_unit.hpp).
#include "socket_unit.hpp"

#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

constexpr const char* kOwnDropIn = "bindguard.conf";
constexpr const char* kOwnMarker = "# Written by `bindguard protect";

// "app.socket" -> "app"; "app@.service" -> "app@". Returns the name without its suffix.
std::string without_suffix(const std::string& name) {
    std::size_t dot = name.rfind('.');
    return dot == std::string::npos ? name : name.substr(0, dot);
}

// True when text is a non-empty run of decimal digits.
bool all_digits(const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// True when the kernel has IPv6 (systemd then reads a bare port as [::]:P).
bool ipv6_supported() { return ::access("/proc/net/if_inet6", F_OK) == 0; }

// net.ipv6.bindv6only, which BindIPv6Only=default follows. Returns it (false when unreadable).
bool system_bindv6only() {
    std::ifstream in("/proc/sys/net/ipv6/bindv6only");
    int value = 0;
    return (in >> value) && value != 0;
}

// Parses the address of a listen line as systemd's socket_address_parse() does: "/path"
// and "@abstract" (AF_UNIX) and "vsock:..." are not IP; a bare port; "ADDRESS:PORT" or
// "[ADDRESS]:PORT", optionally followed by "%DEVICE". Fills line.ip, address, device.
// Returns nothing; throws std::runtime_error naming the line when systemd would refuse it.
void parse_listen_address(ListenLine& line) {
    const std::string& value = line.value;
    auto refuse = [&](const std::string& why) {
        throw std::runtime_error(line.file + ":" + std::to_string(line.line) + ": " + line.directive + "=" + value +
                                 ": " + why);
    };
    if (value.empty()) refuse("empty address");
    if (value[0] == '/' || value[0] == '@' || value.starts_with("vsock:")) return;  // not IP
    line.ip = true;
    std::string text = value;
    if (text.find('#') != std::string::npos) refuse("a server name (#NAME) is not accepted in a listen address");
    if (std::size_t percent = text.find('%'); percent != std::string::npos) {
        line.device = text.substr(percent + 1);
        text.resize(percent);
        if (line.device.empty()) refuse("empty interface name after '%'");
    }
    if (all_digits(text)) {
        if (text.size() > 5 || std::stoi(text) == 0 || std::stoi(text) > 65535) refuse("not a port in 1-65535");
        const std::uint16_t port = static_cast<std::uint16_t>(std::stoi(text));
        line.address = ipv6_supported() ? Endpoint{AF_INET6, {}, port, 0} : Endpoint{AF_INET, {}, port, 0};
        return;
    }
    std::optional<Endpoint> endpoint = parse_endpoint(text);
    if (!endpoint)
        refuse("not an address systemd accepts (a port, ADDRESS:PORT, [IPV6]:PORT, optionally %DEVICE, a path "
               "or @abstract)");
    if (endpoint->port == 0) refuse("port 0: systemd needs a port");
    line.address = *endpoint;
}

// The --NAME argument of a kernel attach command line in our own drop-in. Returns it, or "".
std::string attach_argument(const std::string& command, const std::string& option) {
    std::vector<std::string> words = unit_words(command);
    for (std::size_t i = 0; i + 1 < words.size(); ++i)
        if (words[i] == option) return words[i + 1];
    return "";
}

// True when file is the drop-in `bindguard protect` wrote.
bool own_dropin(const std::string& file) {
    if (std::filesystem::path(file).filename() != kOwnDropIn) return false;
    std::ifstream in(file);
    std::string first;
    return std::getline(in, first) && first.starts_with(kOwnMarker);
}

}  // namespace

std::string ListenLine::where() const {
    return directive + "=" + value + " (" + file + ":" + std::to_string(line) + ")";
}

SocketUnit read_socket_unit(const std::string& name, const std::string& root) {
    SocketUnit unit;
    unit.name = name;
    std::vector<std::string> files = unit_files(name, root, true);
    unit.source = files.front();
    std::string bind_ipv6_only = "default", socket_protocol;
    std::string service;
    for (const std::string& file : files) {
        const bool ours = own_dropin(file);
        for (const UnitSetting& setting : unit_settings(file, "Socket")) {
            const std::string& key = setting.key;
            if (key == "ListenStream" || key == "ListenDatagram" || key == "ListenSequentialPacket") {
                if (setting.value.empty()) {  // "ListenStream=" resets every listen line
                    unit.listens.clear();
                    continue;
                }
                ListenLine line;
                line.directive = key;
                line.value = setting.value;
                line.file = setting.file;
                line.line = setting.line;
                line.protocol = key == "ListenStream" ? Protocol::tcp : key == "ListenDatagram" ? Protocol::udp
                                                                                                 : Protocol::other;
                parse_listen_address(line);
                unit.listens.push_back(line);
            } else if (key == "Service") {
                service = setting.value;
            } else if (key == "Accept") {
                unit.accept = setting.value == "yes" || setting.value == "true" || setting.value == "1" || setting.value == "on";
            } else if (key == "BindIPv6Only") {
                bind_ipv6_only = setting.value.empty() ? "default" : setting.value;
            } else if (key == "FreeBind") {
                unit.freebind = setting.value == "yes" || setting.value == "true" || setting.value == "1" || setting.value == "on";
            } else if (key == "BindToDevice") {
                unit.bind_to_device = setting.value;
            } else if (key == "SocketProtocol") {
                socket_protocol = setting.value;
            } else if (key == "ExecStartPre") {
                if (setting.value.empty()) unit.exec_start_pre.clear();
                else if (ours && setting.value.find(" kernel attach") != std::string::npos) {
                    unit.kernel_protected = true;
                    unit.protected_policy = attach_argument(setting.value, "--policy");
                    unit.protected_service = attach_argument(setting.value, "--service");
                } else if (std::size_t start = setting.value.find_first_not_of("-@:+!"); start != std::string::npos) {
                    unit.exec_start_pre.push_back(setting.value.substr(start));
                }
            }
        }
    }
    const bool v6only = bind_ipv6_only == "ipv6-only" || (bind_ipv6_only == "default" && system_bindv6only());
    for (ListenLine& line : unit.listens) {
        if (!line.ip) continue;
        line.v6only = line.address.family == AF_INET6 && v6only;
        if (socket_protocol == "sctp") line.protocol = Protocol::other;
        else if (socket_protocol == "udplite") line.protocol = Protocol::udp;
    }
    unit.service = !service.empty() ? service : without_suffix(name) + (unit.accept ? "@.service" : ".service");
    return unit;
}

std::vector<std::string> socket_units_of(const std::string& service, const std::string& root) {
    std::set<std::string> found;
    try {
        for (const std::string& file : unit_files(service, root, false)) {
            for (const UnitSetting& setting : unit_settings(file, "Service")) {
                if (setting.key != "Sockets") continue;
                for (const std::string& word : unit_words(setting.value)) found.insert(word);
            }
        }
    } catch (const std::runtime_error&) {
    }
    const std::string base = without_suffix(service);
    const std::size_t at = base.find('@');
    std::set<std::string> candidates;
    for (const std::string& dir : unit_search_path(root)) {
        std::error_code error;
        for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
            const std::string file = entry.path().filename();
            if (file.ends_with(".socket")) candidates.insert(file);
        }
    }
    for (const std::string& name : candidates) {
        try {
            SocketUnit unit = read_socket_unit(name, root);
            const bool same_name = name == base + ".socket" && !unit.accept;
            const bool accepts_for = at != std::string::npos && unit.accept && name == base.substr(0, at) + ".socket";
            if (same_name || accepts_for || unit.service == service) found.insert(name);
        } catch (const std::runtime_error&) {
            if (name == base + ".socket") found.insert(name);  // named after it: reported when read again
        }
    }
    return {found.begin(), found.end()};
}

std::string socket_service_name(const SocketUnit& unit) { return service_of_unit(unit.service); }

ListenVerdict judge_listen(const Policy& policy, const std::string& service, const SocketUnit& unit,
                           const ListenLine& line) {
    ListenVerdict verdict;
    if (!line.ip) return verdict;
    verdict.kind = ListenVerdict::Kind::loopback;
    if (unit.bind_to_device == "lo" || is_loopback(line.address)) return verdict;
    Request request;
    request.address = line.address;
    request.protocol = line.protocol;
    request.v6only = line.v6only;
    request.service = service;
    Decision decision = decide(policy, request);
    verdict.rule = decision.rule;
    if (decision.action == Action::allow) {
        verdict.kind = ListenVerdict::Kind::allowed;
        return verdict;
    }
    verdict.kind = ListenVerdict::Kind::exposed;
    const std::string port = std::to_string(line.address.port);
    verdict.fix = line.directive + "=" + (line.v6only ? "[::1]:" + port : "127.0.0.1:" + port);
    return verdict;
}

std::optional<std::string> pid1_binds_outside_cgroups() {
    // systemd tracks units in cgroup v2 with the unified layout (/sys/fs/cgroup) and the
    // hybrid one (/sys/fs/cgroup/unified); the legacy layout has no cgroup v2 at all.
    for (const char* path : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        struct statfs fs{};
        if (::statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) return std::nullopt;
    }
    return "systemd runs with the legacy cgroup layout (no cgroup v2 at /sys/fs/cgroup or /sys/fs/cgroup/unified), "
           "so its BPF firewall is unsupported and pid 1 binds socket units' listen lines itself, outside their "
           "cgroups, where no cgroup program sees them";
}

}  // namespace bindguard::cli
