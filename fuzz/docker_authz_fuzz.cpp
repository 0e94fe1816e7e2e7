// `docker authz`'s decision (docker::decide_request()) on arbitrary input, with the built-in
// policy (no allow rules). The first byte picks how the rest is used: as the whole AuthZReq
// body, or as the body of a POST /containers/create inside a well-formed AuthZReq. Either
// way: no crash or exception; a denial has a message; the JSON answer says the same. For a
// create body: whenever it asks (as dockerd would read it, member names without regard to
// case) for the host's network, -P, or a port binding whose host address is not loopback,
// the request is denied.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bindguard/policy.hpp"
#include "docker_authz_decision.hpp"
#include "support/base64.hpp"

using nlohmann::json;

namespace {

using bgtest::base64;

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

// The last member of object named name without regard to case (nullptr when none).
const json* find(const json& object, const char* name) {
    if (!object.is_object()) return nullptr;
    const json* found = nullptr;
    for (auto it = object.begin(); it != object.end(); ++it)
        if (lower(it.key()) == name) found = &it.value();
    return found;
}

bool loopback_address(const std::string& host_ip) {
    std::string text = host_ip;
    if (text.size() > 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    auto endpoint = bindguard::parse_endpoint(text.find(':') != std::string::npos ? "[" + text + "]:0" : text + ":0");
    return endpoint && bindguard::is_loopback(*endpoint);
}

// True when the create body asks for a publish beyond loopback.
bool publishes_publicly(const json& body) {
    const json* host_config = find(body, "hostconfig");
    if (!host_config || !host_config->is_object()) return false;
    if (const json* network = find(*host_config, "networkmode"); network && *network == "host") return true;
    if (const json* all = find(*host_config, "publishallports"); all && *all == true) return true;
    const json* bindings = find(*host_config, "portbindings");
    if (!bindings || !bindings->is_object()) return false;
    for (const auto& [key, list] : bindings->items()) {
        if (!list.is_array()) continue;
        for (const json& binding : list) {
            const json* ip = find(binding, "hostip");
            if (!ip || ip->is_null() || !ip->is_string() || !loopback_address(ip->get<std::string>())) return true;
        }
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static const bindguard::Policy policy = bindguard::builtin_policy();
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    const bool as_create_body = data[0] & 1;
    std::string request(rest);
    if (as_create_body)
        request = json{{"RequestMethod", "POST"}, {"RequestUri", "/v1.41/containers/create?name=fuzz"}, {"RequestBody", base64(rest)}}
                      .dump();
    const bindguard::cli::docker::AuthzDecision decision = bindguard::cli::docker::decide_request(policy, request);
    if (!decision.allow && decision.message.empty()) std::abort();
    const json answer = json::parse(bindguard::cli::docker::authz_response(decision), nullptr, false);
    if (!answer.is_object() || answer.value("Allow", !decision.allow) != decision.allow) std::abort();
    if (!decision.allow && !answer.contains("Msg")) std::abort();
    if (as_create_body && decision.allow) {
        const json body = json::parse(rest, nullptr, false);
        if (!body.is_object()) std::abort();  // a create body that is not a JSON object is never allowed
        if (publishes_publicly(body)) std::abort();
    }
    return 0;
}
