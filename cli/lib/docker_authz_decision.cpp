// decide_request() and authz_response(): see docker_authz_decision.hpp.
#include "docker_authz_decision.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <stdexcept>
#include <vector>

#include <nlohmann/json.hpp>

#include "compose_judge.hpp"

namespace bindguard::cli::docker {
namespace {

using nlohmann::json;

// A request that cannot be judged: its message becomes the denial.
struct Unreadable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

bool same_key(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

// The member name of object, matched without regard to case as dockerd's JSON decoding
// matches it (so "hostconfig" cannot slip past). Returns it, or nullptr when absent or
// null; throws Unreadable when two members match, or object is not an object.
const json* member(const json& object, std::string_view name, std::string_view where) {
    if (!object.is_object()) throw Unreadable(std::string(where) + " is not a JSON object");
    const json* found = nullptr;
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (!same_key(it.key(), name)) continue;
        if (found) throw Unreadable(std::string(where) + " has \"" + std::string(name) + "\" twice");
        found = &it.value();
    }
    return found && !found->is_null() ? found : nullptr;
}

// The string member name of object ("" when absent). Throws Unreadable when it is not a string.
std::string string_member(const json& object, std::string_view name, std::string_view where) {
    const json* value = member(object, name, where);
    if (!value) return "";
    if (!value->is_string()) throw Unreadable(std::string(where) + "." + std::string(name) + " is not a string");
    return value->get<std::string>();
}

// Decodes standard base64 (padding optional, no line breaks). Throws Unreadable.
std::string base64_decode(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        int v = value(c);
        if (v < 0) throw Unreadable("RequestBody is not base64");
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    return out;
}

// Decodes %XX escapes (and, in a query value, '+'). Returns it.
std::string url_decode(std::string_view text, bool query = true) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (query && text[i] == '+') out += ' ';
        else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else out += text[i];
    }
    return out;
}

// The value of key in the query string ("" when absent). Returns it.
std::string query_value(std::string_view query, std::string_view key) {
    while (!query.empty()) {
        std::string_view pair = query.substr(0, query.find('&'));
        query.remove_prefix(std::min(query.size(), pair.size() + 1));
        if (pair.substr(0, pair.find('=')) == key && pair.find('=') != std::string_view::npos)
            return url_decode(pair.substr(pair.find('=') + 1));
    }
    return "";
}

// The path of an API request without its "/vX.Y" prefix (Docker accepts both). Returns it.
std::string api_path(std::string_view path) {
    if (path.size() > 2 && path[0] == '/' && path[1] == 'v' && std::isdigit(static_cast<unsigned char>(path[2]))) {
        std::size_t slash = path.find('/', 1);
        return slash == std::string_view::npos ? "/" : std::string(path.substr(slash));
    }
    return std::string(path);
}

// A port or range as Docker writes it ("3100", "5000-5010"). Returns it, or nullopt.
std::optional<PortRange> parse_ports(std::string_view text) {
    auto number = [](std::string_view digits) -> std::optional<std::uint16_t> {
        unsigned value = 0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (error != std::errc{} || end != digits.data() + digits.size() || digits.empty() || value > 65535) return std::nullopt;
        return static_cast<std::uint16_t>(value);
    };
    std::size_t dash = text.find('-');
    auto first = number(text.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : number(text.substr(dash + 1));
    if (!first || !last || *first > *last) return std::nullopt;
    return PortRange{*first, *last};
}

// What is being judged: the container (or swarm service) and the policy's service for it.
struct Subject {
    std::string container;
    std::string compose_service;  // the com.docker.compose.service label, "" when none
    std::string service() const { return compose_service.empty() ? container : compose_service; }
    // `container "web"`, `container "shop_web_1" (Compose service "web")`, `a container`.
    std::string named() const {
        std::string text = container.empty() ? "a container with no name" : "container \"" + container + "\"";
        if (!compose_service.empty()) text += " (Compose service \"" + compose_service + "\")";
        return text;
    }
};

// The reasons a HostConfig is denied, each "-p ... publishes ...; fix: ..." (empty: allowed).
struct Findings {
    std::vector<std::string> reasons;
    std::string rule;   // of the first finding, else of the first publish judged
    bool judged = false;

    void judged_by(const std::string& decided_by, bool denied) {
        if (denied && reasons.size() == 1) rule = decided_by;
        else if (rule.empty()) rule = decided_by;
        judged = true;
    }
};

// "tcp", "udp", "sctp" of a PortBindings key ("3100/tcp", "3100"). Throws Unreadable.
Protocol protocol_of(const std::string& name, const std::string& key) {
    if (name.empty() || name == "tcp") return Protocol::tcp;
    if (name == "udp") return Protocol::udp;
    if (name == "sctp") return Protocol::other;
    throw Unreadable("HostConfig.PortBindings has \"" + key + "\", whose protocol is not tcp, udp or sctp");
}

// "127.0.0.1:3100:3100", "[::1]:3100:3100/udp", "127.0.0.1::3100": a mapping as -p takes it.
std::string mapping(const std::string& host_ip, const std::string& host_port, const std::string& container_port,
                    const std::string& protocol) {
    std::string text;
    if (!host_ip.empty()) text = (host_ip.find(':') != std::string::npos ? "[" + host_ip + "]" : host_ip) + ":";
    if (!host_port.empty()) text += host_port + ":";
    else if (!host_ip.empty()) text += ":";
    text += container_port;
    if (!protocol.empty() && protocol != "tcp") text += "/" + protocol;
    return text;
}

// Judges HostConfig.PortBindings. Returns nothing; adds to findings.
void judge_bindings(const Policy& policy, const Subject& subject, const json& bindings, Findings& findings) {
    if (!bindings.is_object()) throw Unreadable("HostConfig.PortBindings is not a JSON object");
    for (auto it = bindings.begin(); it != bindings.end(); ++it) {
        const std::string key = it.key();
        const std::string container_port = key.substr(0, key.find('/'));
        const std::string protocol_name = key.find('/') == std::string::npos ? "" : key.substr(key.find('/') + 1);
        const Protocol protocol = protocol_of(protocol_name, key);
        if (!parse_ports(container_port)) throw Unreadable("HostConfig.PortBindings has \"" + key + "\", which is not a port");
        if (it.value().is_null()) continue;
        if (!it.value().is_array()) throw Unreadable("HostConfig.PortBindings[\"" + key + "\"] is not a list");
        for (const json& binding : it.value()) {
            const std::string where = "HostConfig.PortBindings[\"" + key + "\"]";
            std::string host_ip = string_member(binding, "HostIp", where);
            const std::string host_port = string_member(binding, "HostPort", where);
            if (host_ip.size() > 2 && host_ip.front() == '[' && host_ip.back() == ']') host_ip = host_ip.substr(1, host_ip.size() - 2);
            if (!host_ip.empty() && !is_host_address(host_ip))
                throw Unreadable(where + " has HostIp \"" + host_ip + "\", which is not an IP address");
            std::optional<PortRange> ports = host_port.empty() ? PortRange{1, 65535} : parse_ports(host_port);
            if (!ports) throw Unreadable(where + " has HostPort \"" + host_port + "\", which is not a port");
            PublishJudgement judgement = judge_publish(policy, subject.service(), host_ip, {protocol}, *ports);
            const bool denied = judgement.verdict == PublishJudgement::Verdict::exposed;
            if (denied) {
                const std::string proto = protocol_name.empty() ? "tcp" : protocol_name;
                std::string what = host_port.empty() ? proto + " container port " + container_port + " on a random port of "
                                   : ports->first == ports->last ? proto + " port " + host_port + " on "
                                                                 : proto + " ports " + host_port + " on ";
                const bool v6 = host_ip.find(':') != std::string::npos;
                const std::string fixed = mapping(v6 ? "::1" : "127.0.0.1", host_port, container_port, protocol_name);
                findings.reasons.push_back("-p " + mapping(host_ip, host_port, container_port, protocol_name) + " publishes " +
                                           what + judgement.where + "; fix: -p " + fixed + " (Compose: \"" + fixed + "\")");
            }
            findings.judged_by(judgement.rule, denied);
        }
    }
}

// The exposed ports of a create request, "3100/tcp, 53/udp" (the image's own are not in it).
std::string exposed_ports(const json* exposed) {
    std::string text;
    if (exposed && exposed->is_object())
        for (auto it = exposed->begin(); it != exposed->end(); ++it) text += (text.empty() ? "" : ", ") + it.key();
    return text;
}

// "127.0.0.1:3100:3100" for the first exposed port, or "127.0.0.1:PORT:PORT". Returns it.
std::string loopback_mapping(const json* exposed) {
    std::string port = "PORT", protocol;
    if (exposed && exposed->is_object() && !exposed->empty()) {
        std::string key = exposed->begin().key();
        port = key.substr(0, key.find('/'));
        protocol = key.find('/') == std::string::npos ? "" : key.substr(key.find('/') + 1);
    }
    return mapping("127.0.0.1", port, port, protocol);
}

// Judges a HostConfig (of a create, or of a legacy start). exposed: the create's
// ExposedPorts (nullptr for a start). Returns the findings.
Findings judge_host_config(const Policy& policy, const Subject& subject, const json& host_config, const json* exposed) {
    Findings findings;
    const std::string where = "HostConfig";
    if (const json* network = member(host_config, "NetworkMode", where)) {
        if (!network->is_string()) throw Unreadable("HostConfig.NetworkMode is not a string");
        if (network->get<std::string>() == "host") {
            std::string rule;
            const bool denied = !allowed_everything(policy, subject.service(), rule);
            if (denied)
                findings.reasons.push_back("--network host shares the host's network: whatever it binds is on every "
                                           "address of the host, and none of its ports can be checked; fix: drop "
                                           "--network host and publish each port on loopback, e.g. -p " + loopback_mapping(exposed) +
                                           " (Compose: remove network_mode: host and write \"" + loopback_mapping(exposed) + "\")");
            findings.judged_by(rule, denied);
        }
    }
    if (const json* all = member(host_config, "PublishAllPorts", where)) {
        if (!all->is_boolean()) throw Unreadable("HostConfig.PublishAllPorts is not true or false");
        if (all->get<bool>()) {
            std::string rule;
            const bool denied = !allowed_everything(policy, subject.service(), rule);
            std::string ports = exposed_ports(exposed);
            if (denied)
                findings.reasons.push_back("-P publishes every port the container exposes (" +
                                           (ports.empty() ? std::string("the image's") : ports + " and the image's") +
                                           ") on a random port of every host address (0.0.0.0 and ::); fix: drop -P "
                                           "and publish each port on loopback, e.g. -p " + loopback_mapping(exposed) + " (Compose: \"" +
                                           loopback_mapping(exposed) + "\")");
            findings.judged_by(rule, denied);
        }
    }
    if (const json* bindings = member(host_config, "PortBindings", where)) judge_bindings(policy, subject, *bindings, findings);
    return findings;
}

// Judges a swarm service spec's EndpointSpec.Ports: every published port is on every
// address of every node (the routing mesh, or mode host on 0.0.0.0). Returns the findings.
Findings judge_service_spec(const Policy& policy, const Subject& subject, const json& spec) {
    Findings findings;
    const json* endpoint = member(spec, "EndpointSpec", "the service spec");
    const json* ports = endpoint ? member(*endpoint, "Ports", "EndpointSpec") : nullptr;
    if (!ports) return findings;
    if (!ports->is_array()) throw Unreadable("EndpointSpec.Ports is not a list");
    for (const json& port : *ports) {
        const json* published = member(port, "PublishedPort", "EndpointSpec.Ports[]");
        const json* target = member(port, "TargetPort", "EndpointSpec.Ports[]");
        std::string protocol_name = string_member(port, "Protocol", "EndpointSpec.Ports[]");
        if (published && !published->is_number_unsigned()) throw Unreadable("EndpointSpec.Ports[].PublishedPort is not a port");
        unsigned host_port = published ? published->get<unsigned>() : 0;
        if (host_port > 65535) throw Unreadable("EndpointSpec.Ports[].PublishedPort is not a port");
        Protocol protocol = protocol_of(protocol_name, "EndpointSpec.Ports[].Protocol");
        PortRange range = host_port == 0 ? PortRange{1, 65535} : PortRange{static_cast<std::uint16_t>(host_port), static_cast<std::uint16_t>(host_port)};
        PublishJudgement judgement = judge_publish(policy, subject.service(), "", {protocol}, range);
        const bool denied = judgement.verdict == PublishJudgement::Verdict::exposed;
        if (denied)
            findings.reasons.push_back("the swarm service publishes " + (protocol_name.empty() ? "tcp" : protocol_name) +
                                       " port " + (host_port ? std::to_string(host_port) : "(random)") +
                                       (target ? " (target " + target->dump() + ")" : "") +
                                       " on every address of every node of the swarm; fix: do not publish it, "
                                       "or run the service as a container with -p 127.0.0.1:PORT:PORT");
        findings.judged_by(judgement.rule, denied);
    }
    return findings;
}

// The JSON of a request body. Throws Unreadable naming what is wrong.
json body_json(const json& request, const std::string& what) {
    std::string encoded = string_member(request, "RequestBody", "the request");
    if (encoded.empty())
        throw Unreadable(what + " without a body for the plugin (dockerd passes only a JSON body smaller than 1 MiB), "
                         "so its published ports cannot be checked");
    json body = json::parse(base64_decode(encoded), nullptr, false);
    if (body.is_discarded()) throw Unreadable(what + " has a body that is not JSON");
    if (!body.is_object()) throw Unreadable(what + " has a body that is not a JSON object");
    return body;
}

// The labels' com.docker.compose.service. Returns it ("" when none).
std::string compose_service_label(const json& body) {
    const json* labels = member(body, "Labels", "the request body");
    if (!labels) return "";
    if (!labels->is_object()) throw Unreadable("Labels is not a JSON object");
    auto it = labels->find("com.docker.compose.service");
    if (it == labels->end() || it->is_null()) return "";
    if (!it->is_string()) throw Unreadable("the label com.docker.compose.service is not a string");
    return it->get<std::string>();
}

// "shop_web_1" from "/shop_web_1". Returns it.
std::string without_slash(std::string name) { return name.starts_with("/") ? name.substr(1) : name; }

}  // namespace

AuthzDecision decide_request(const Policy& policy, std::string_view request_json) {
    AuthzDecision decision;
    try {
        json request = json::parse(request_json, nullptr, false);
        if (request.is_discarded()) throw Unreadable("the authorization request is not JSON");
        const std::string method = string_member(request, "RequestMethod", "the request");
        const std::string uri = string_member(request, "RequestUri", "the request");
        if (method.empty() || uri.empty()) throw Unreadable("the authorization request names no RequestMethod or RequestUri");
        decision.request = method + " " + uri;
        // dockerd routes by the decoded path ("/containers/cr%65ate" is a create): so does the plugin.
        const std::string path = api_path(url_decode(uri.substr(0, uri.find('?')), false));
        const std::string query = uri.find('?') == std::string::npos ? "" : uri.substr(uri.find('?') + 1);
        if (method != "POST") return decision;
        Subject subject;
        Findings findings;
        auto parts = [&path]() {
            std::vector<std::string> out;
            for (std::size_t at = 1; at <= path.size();) {
                std::size_t slash = path.find('/', at);
                out.push_back(path.substr(at, slash == std::string::npos ? std::string::npos : slash - at));
                if (slash == std::string::npos) break;
                at = slash + 1;
            }
            return out;
        }();
        if (parts.size() == 2 && parts[0] == "containers" && parts[1] == "create") {
            json body = body_json(request, "POST /containers/create");
            subject.container = without_slash(query_value(query, "name"));
            subject.compose_service = compose_service_label(body);
            const json* host_config = member(body, "HostConfig", "the request body");
            if (host_config) findings = judge_host_config(policy, subject, *host_config, member(body, "ExposedPorts", "the request body"));
        } else if (parts.size() == 3 && parts[0] == "containers" && parts[2] == "start") {
            // Before API 1.24 a start could carry a HostConfig of its own; since, it has no body.
            std::string encoded = string_member(request, "RequestBody", "the request");
            subject.container = parts[1];
            if (!encoded.empty()) {
                json body = json::parse(base64_decode(encoded), nullptr, false);
                if (body.is_discarded()) throw Unreadable("POST /containers/" + parts[1] + "/start has a body that is not JSON");
                if (body.is_object()) findings = judge_host_config(policy, subject, body, nullptr);
            }
        } else if ((parts.size() == 2 && parts[0] == "services" && parts[1] == "create") ||
                   (parts.size() == 3 && parts[0] == "services" && parts[2] == "update")) {
            json body = body_json(request, "POST " + path);
            subject.container = parts.size() == 2 ? string_member(body, "Name", "the service spec") : parts[1];
            subject.compose_service = compose_service_label(body);
            findings = judge_service_spec(policy, subject, body);
        } else {
            return decision;
        }
        decision.container = subject.container;
        decision.service = subject.service();
        decision.rule = findings.rule;
        decision.judged = findings.judged;
        if (findings.reasons.empty()) return decision;
        decision.allow = false;
        decision.message = subject.named() + ": ";
        for (std::size_t i = 0; i < findings.reasons.size(); ++i)
            decision.message += (i ? ". Also: " : "") + findings.reasons[i];
        decision.message += ".";
    } catch (const Unreadable& error) {
        decision.allow = false;
        decision.message = std::string("cannot check this request, so it is refused: ") + error.what();
    } catch (const json::exception& error) {
        decision.allow = false;
        decision.message = std::string("cannot check this request, so it is refused: ") + error.what();
    }
    return decision;
}

std::string authz_response(const AuthzDecision& decision) {
    json answer = {{"Allow", decision.allow}};
    if (!decision.allow) answer["Msg"] = decision.message;
    return answer.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace bindguard::cli::docker
