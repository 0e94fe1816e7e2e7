// The kernel relay's lines (bindguard/event_line.hpp) for events as the BPF programs
// write them: the library's line of the same decision, with call=kernel; a listener the
// kernel confines to lo; the line of decisions lost to a full ring buffer. Needs no root.
#include <arpa/inet.h>
#include <sys/socket.h>

#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bindguard/event_line.hpp"

namespace {

namespace k = bindguard::kernel;
using bindguard::LogFormat;
using bindguard::Mode;

// An event of pid 4242: requested and result as "ADDRESS" text of family, and ports.
bg_event event_of(int family, const char* requested, const char* result, __u16 port, __u8 action, __u8 call = BG_CALL_BIND) {
    bg_event event{};
    event.pid = 4242;
    event.family = static_cast<__u8>(family);
    event.protocol = BG_PROTO_TCP;
    event.action = action;
    event.call = call;
    if (family == AF_INET) {
        inet_pton(AF_INET, requested, &event.requested[3]);
        inet_pton(AF_INET, result, &event.result[3]);
    } else {
        inet_pton(AF_INET6, requested, event.requested);
        inet_pton(AF_INET6, result, event.result);
    }
    event.requested_port = port;
    event.result_port = port;
    return event;
}

std::string line_of(const bg_event& event, LogFormat format, const char* program = "/usr/bin/caddy",
                    const char* service = "web", Mode mode = Mode::enforce) {
    char out[bindguard::kLogLineCapacity];
    std::size_t body = 0;
    const std::size_t length = k::format_event_line(event, "default", format, mode, program, service, 0, out, sizeof out, body);
    return std::string(out, length);
}

TEST(EventLine, ARewriteIsTheLibrarysLineWithCallKernel) {
    const bg_event event = event_of(AF_INET, "0.0.0.0", "127.0.0.1", 8080, BG_ACTION_REWRITE);
    EXPECT_EQ(line_of(event, LogFormat::text),
              "bindguard[4242]: rewrite tcp 0.0.0.0:8080 -> 127.0.0.1:8080 rule=default program=/usr/bin/caddy "
              "service=web call=kernel\n");
    // An empty program and service read "-"; a service that looks like fields is escaped.
    EXPECT_EQ(line_of(event, LogFormat::text, "", "api rule=x"),
              "bindguard[4242]: rewrite tcp 0.0.0.0:8080 -> 127.0.0.1:8080 rule=default program=- "
              "service=api\\x20rule\\x3dx call=kernel\n");
}

TEST(EventLine, ADenyInEnforceModeReadsEacces) {
    bg_event event = event_of(AF_INET6, "::", "::", 443, BG_ACTION_DENY);
    event.error = EACCES;
    EXPECT_EQ(line_of(event, LogFormat::text),
              "bindguard[4242]: deny tcp [::]:443 -> EACCES rule=default program=/usr/bin/caddy service=web call=kernel\n");
    const auto record = nlohmann::json::parse(line_of(event, LogFormat::json));
    EXPECT_EQ(record["result"], "EACCES");
    EXPECT_EQ(record["errno"], EACCES);
    EXPECT_EQ(record["call"], "kernel");
    EXPECT_EQ(record["pid"], 4242);
}

TEST(EventLine, AListenerConfinedToLoopbackSaysSo) {
    const bg_event v4 = event_of(AF_INET, "0.0.0.0", "0.0.0.0", 41234, BG_ACTION_REWRITE, BG_CALL_LISTEN);
    EXPECT_EQ(line_of(v4, LogFormat::text),
              "bindguard[4242]: rewrite tcp 0.0.0.0:41234 -> 0.0.0.0%lo:41234 rule=default program=/usr/bin/caddy "
              "service=web call=kernel\n");
    const bg_event v6 = event_of(AF_INET6, "::", "::", 41234, BG_ACTION_REWRITE, BG_CALL_LISTEN);
    EXPECT_EQ(nlohmann::json::parse(line_of(v6, LogFormat::json))["result"], "[::%lo]:41234");
}

TEST(EventLine, AuditModeReadsWouldAndKeepsTheRequest) {
    bg_event event = event_of(AF_INET, "0.0.0.0", "127.0.0.1", 3000, BG_ACTION_REWRITE);
    event.audit = 1;
    const auto record = nlohmann::json::parse(line_of(event, LogFormat::json, "/bin/x", "", Mode::audit));
    EXPECT_EQ(record["action"], "would-rewrite");
    EXPECT_EQ(record["result"], "0.0.0.0:3000");
    EXPECT_EQ(record["mode"], "audit");
    EXPECT_EQ(record["service"], "");
}

TEST(EventLine, InvalidUtf8InJsonIsEscapedByteForByte) {
    const bg_event event = event_of(AF_INET, "0.0.0.0", "127.0.0.1", 3000, BG_ACTION_REWRITE);
    const std::string line = line_of(event, LogFormat::json, "/opt/\xff\xfe", "caf\xc3\xa9");
    EXPECT_NE(line.find("\"program\":\"/opt/\\u00ff\\u00fe\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"service\":\"caf\xc3\xa9\""), std::string::npos) << line;
}

TEST(EventLine, LostDecisionsHaveALineOfTheirOwn) {
    char out[bindguard::kLogLineCapacity];
    std::size_t body = 0;
    std::size_t length = k::format_lost_line(12, LogFormat::text, "my web", out, sizeof out, body);
    EXPECT_EQ(std::string(out, length),
              "bindguard: 12 kernel decisions not logged (the event ring buffer was full) service=my\\x20web call=kernel\n");
    EXPECT_EQ(std::string(out + body, 3), "12 ");
    length = k::format_lost_line(12, LogFormat::json, "my web", out, sizeof out, body);
    const auto record = nlohmann::json::parse(std::string(out, length));
    EXPECT_EQ(record["lost"], 12);
    EXPECT_EQ(record["call"], "kernel");
    EXPECT_EQ(record["service"], "my web");
    EXPECT_EQ(body, 0u);
}

}  // namespace
