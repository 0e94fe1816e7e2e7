// judge_publish() and allowed_everything(): see compose_judge.hpp.
#include "compose_judge.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace bindguard::cli {
namespace {

// The endpoint of a literal address (port 0). Returns it, or nullopt.
std::optional<Endpoint> address_endpoint(const std::string& text) {
    return parse_endpoint(text.find(':') != std::string::npos ? "[" + text + "]:0" : text + ":0");
}

// The addresses Docker publishes on for host_ip: the one given, or both wildcards.
std::vector<Endpoint> host_addresses(const std::string& host_ip) {
    if (host_ip.empty()) return {*parse_endpoint("0.0.0.0:0"), *parse_endpoint("[::]:0")};
    return {*address_endpoint(host_ip)};
}

// True when decide() allows service to bind every one of addresses x protocols x ports;
// rule is set to the rule that decided the first binding that is not allowed (or, when all
// are, the first one). Returns the answer.
bool allowed_everywhere(const Policy& policy, const std::string& service, const std::vector<Endpoint>& addresses,
                        const std::vector<Protocol>& protocols, PortRange ports, std::string& rule) {
    Request request;
    request.service = service;
    rule.clear();
    for (const Endpoint& address : addresses) {
        request.address = address;
        for (Protocol protocol : protocols) {
            request.protocol = protocol;
            for (unsigned port = ports.first; port <= ports.last; ++port) {
                request.address.port = static_cast<std::uint16_t>(port);
                Decision decision = decide(policy, request);
                if (rule.empty() || decision.action != Action::allow) rule = decision.rule;
                if (decision.action != Action::allow) return false;
            }
        }
    }
    return true;
}

}  // namespace

bool is_host_address(const std::string& text) { return !text.empty() && address_endpoint(text).has_value(); }

PublishJudgement judge_publish(const Policy& policy, const std::string& service, const std::string& host_ip,
                               const std::vector<Protocol>& protocols, PortRange ports) {
    PublishJudgement judgement;
    std::vector<Endpoint> addresses = host_addresses(host_ip);
    if (std::all_of(addresses.begin(), addresses.end(), [](const Endpoint& e) { return is_loopback(e); })) return judgement;
    if (allowed_everywhere(policy, service, addresses, protocols, ports, judgement.rule)) {
        judgement.verdict = PublishJudgement::Verdict::allowed;
        return judgement;
    }
    judgement.verdict = PublishJudgement::Verdict::exposed;
    if (host_ip.empty()) judgement.where = "every host address (0.0.0.0 and ::)";
    else if (is_wildcard(addresses.front()))
        judgement.where = host_ip + ", every " + (addresses.front().family == AF_INET6 ? "IPv6" : "IPv4") + " address of the host";
    else judgement.where = host_ip + ", which is not loopback";
    return judgement;
}

bool allowed_everything(const Policy& policy, const std::string& service, std::string& rule) {
    return allowed_everywhere(policy, service, {*parse_endpoint("0.0.0.0:0"), *parse_endpoint("[::]:0")},
                              {Protocol::tcp, Protocol::udp}, PortRange{1, 65535}, rule);
}

}  // namespace bindguard::cli
