// A kernel decision as the library's log line (bindguard/log_line.hpp), with call=kernel.
#include "bindguard/event_line.hpp"

#include <sys/socket.h>

#include <cstring>

#include "bindguard/kernel.hpp"

namespace bindguard::kernel {
namespace {

// The endpoint of an event address (IPv6 form) in the request's family.
Endpoint endpoint_of(const __u32 address[4], __u16 port, int family) noexcept {
    Endpoint ep;
    ep.family = family;
    if (family == AF_INET) std::memcpy(ep.bytes.data(), &address[3], 4);
    else std::memcpy(ep.bytes.data(), address, 16);
    ep.port = port;
    return ep;
}

int family_of(const bg_event& event) noexcept { return event.family == AF_INET ? AF_INET : AF_INET6; }

Protocol protocol_of(__u8 code) noexcept {
    return code == BG_PROTO_TCP ? Protocol::tcp : code == BG_PROTO_UDP ? Protocol::udp : Protocol::other;
}

Action action_of(__u8 code) noexcept {
    return code == BG_ACTION_REWRITE ? Action::rewrite : code == BG_ACTION_DENY ? Action::deny : Action::allow;
}

}  // namespace

bool wants_log(const Policy& policy) {
    return policy.log.to != LogSink::none && (policy.log.level == LogLevel::info || policy.log.level == LogLevel::debug);
}

Request request_of_event(const bg_event& event) noexcept {
    Request request;
    request.address = endpoint_of(event.requested, event.requested_port, family_of(event));
    request.protocol = protocol_of(event.protocol);
    request.v6only = event.v6only != 0;
    return request;
}

LogRecord record_of_event(const bg_event& event, const Request& request, const char* rule) noexcept {
    LogRecord record;
    record.call = "kernel";
    record.request = &request;
    record.decision.action = action_of(event.action);
    record.decision.address = endpoint_of(event.result, event.result_port, family_of(event));
    record.decision.rule = rule != nullptr ? rule : "";
    record.audit = event.audit != 0;
    record.error = event.error;
    record.confined = event.call == BG_CALL_LISTEN && record.decision.action == Action::rewrite;
    return record;
}

std::size_t format_event_line(const bg_event& event, const char* rule, LogFormat format, Mode mode, const char* program,
                              const char* service, std::uint64_t dropped, char* out, std::size_t capacity,
                              std::size_t& body_offset) noexcept {
    const Request request = request_of_event(event);
    const LogRecord record = record_of_event(event, request, rule);
    const LogLineContext context{format, mode, program, service, event.pid};
    return format_log_line(context, record, dropped, out, capacity, body_offset);
}

std::size_t format_lost_line(std::uint64_t lost, LogFormat format, const char* service, char* out,
                             std::size_t capacity, std::size_t& body_offset) noexcept {
    body_offset = 0;
    if (capacity < 2) return 0;
    if (service == nullptr) service = "";
    LineBuffer line(out, capacity);
    if (format == LogFormat::json) {
        line.add("{\"ts\":\"");
        line.add_timestamp();
        line.add("\",\"service\":");
        line.add_json_string(service, kLogNameBudget);
        line.add(",\"call\":\"kernel\",\"lost\":");
        line.add_unsigned(lost);
        line.add('}');
    } else {
        line.add("bindguard: ");
        body_offset = line.size();
        line.add_unsigned(lost);
        line.add(" kernel decisions not logged (the event ring buffer was full) service=");
        line.add_field(service, kLogNameBudget);
        line.add(" call=kernel");
    }
    line.terminate_line();
    return line.size();
}

}  // namespace bindguard::kernel
