// format_event(): a kernel decision in the library's log formats, with call=kernel.
#include <arpa/inet.h>
#include <time.h>

#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "bindguard/kernel.hpp"

namespace bindguard::kernel {
namespace {

// The endpoint of an event address (IPv6 form) in the request's family.
Endpoint endpoint_of(const __u32 address[4], __u16 port, int family) {
    Endpoint ep;
    ep.family = family;
    if (family == AF_INET) std::memcpy(ep.bytes.data(), &address[3], 4);
    else std::memcpy(ep.bytes.data(), address, 16);
    ep.port = port;
    return ep;
}

Protocol protocol_of(__u8 code) {
    return code == BG_PROTO_TCP ? Protocol::tcp : code == BG_PROTO_UDP ? Protocol::udp : Protocol::other;
}

Action action_of(__u8 code) {
    return code == BG_ACTION_REWRITE ? Action::rewrite : code == BG_ACTION_DENY ? Action::deny : Action::allow;
}

std::string text_of(const Endpoint& ep) {
    char buffer[80];
    format_endpoint(ep, buffer, sizeof buffer);
    return buffer;
}

// A listener confined to the loopback device: "0.0.0.0%lo:41234", "[::%lo]:41234".
std::string confined_text(const Endpoint& ep) {
    std::string text = text_of(ep);
    const std::size_t colon = text.rfind(':');
    if (ep.family == AF_INET6) return text.substr(0, colon - 1) + "%lo]" + text.substr(colon);
    return text.substr(0, colon) + "%lo" + text.substr(colon);
}

// RFC 3339 UTC with milliseconds, as the library writes it.
std::string timestamp() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000);
    return buffer;
}

}  // namespace

bool wants_log(const Policy& policy) {
    return policy.log.to != LogSink::none && (policy.log.level == LogLevel::info || policy.log.level == LogLevel::debug);
}

std::string format_event(const bg_event& event, const Policy& policy, const std::string& program,
                         const std::string& service, std::uint64_t suppressed) {
    const int family = event.family == AF_INET ? AF_INET : AF_INET6;
    Request request;
    request.address = endpoint_of(event.requested, event.requested_port, family);
    request.protocol = protocol_of(event.protocol);
    request.v6only = event.v6only != 0;
    const std::string rule = rule_name(policy, event.rule);
    Decision decision;
    decision.action = action_of(event.action);
    decision.address = endpoint_of(event.result, event.result_port, family);
    decision.rule = rule.c_str();
    const bool audit = event.audit != 0;
    const bool confined = event.call == BG_CALL_LISTEN && decision.action == Action::rewrite;
    std::string action = to_string(decision.action);
    if (audit && decision.action != Action::allow) action = "would-" + action;
    std::string result = decision.action == Action::deny && !audit ? "EACCES"
                         : confined                                ? confined_text(decision.address)
                         : audit                                   ? text_of(request.address)
                                                                   : text_of(decision.address);

    if (policy.log.format == LogFormat::json) {
        nlohmann::json line = {{"ts", timestamp()},
                               {"pid", event.pid},
                               {"program", program},
                               {"service", service},
                               {"call", "kernel"},
                               {"proto", to_string(request.protocol)},
                               {"requested", text_of(request.address)},
                               {"action", action},
                               {"result", result},
                               {"rule", rule},
                               {"mode", to_string(policy.mode)},
                               {"errno", event.error}};
        if (suppressed > 0) line["suppressed"] = suppressed;
        return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    std::string line = "bindguard[" + std::to_string(event.pid) + "]: ";
    if (confined) {
        line += action + " " + to_string(request.protocol) + " " + text_of(request.address) + " -> " + result;
    } else {
        char described[512];
        describe(request, decision, audit, described, sizeof described);
        line += described;
    }
    line += " rule=" + rule + " program=" + program + " service=" + (service.empty() ? "-" : service) + " call=kernel\n";
    return line;
}

std::string format_lost(std::uint64_t lost, const Policy& policy, const std::string& service) {
    if (policy.log.format == LogFormat::json) {
        nlohmann::json line = {{"ts", timestamp()}, {"service", service}, {"call", "kernel"}, {"lost", lost}};
        return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    return "bindguard: " + std::to_string(lost) + " kernel decisions not logged (the event ring buffer was full) service=" +
           (service.empty() ? "-" : service) + " call=kernel\n";
}

}  // namespace bindguard::kernel
