// The three Doable services (Next.js via `next start` and its standalone server, the Hono
// API, the ws server), started for real, with and without the library. Every test runs in
// its own network namespace (lo + a veth pair carrying 10.253.0.1), so the seeds' real
// ports are free and nothing is ever exposed on the host, even by a broken library.
#include <signal.h>

#include "doable_support.hpp"

namespace {

using doable::Host;
using doable::Launcher;
using doable::Service;

// Starts every test in a fresh private network namespace, with the services built.
class DoableService : public ::testing::TestWithParam<Service> {
protected:
    void SetUp() override {
        ASSERT_TRUE(doable::services_built());
        ASSERT_TRUE(doable::enter_private_netns());
    }
};
class DoableWithLibrary : public DoableService {};
class DoableWithoutLibrary : public DoableService {};

// Each service with its framework's default host, with an explicit 0.0.0.0, and with a
// real non-loopback address (the standalone Next server's HOSTNAME, next start's -H,
// API_HOST, WS_HOST).
const std::vector<Service> kCases = {
    {Launcher::next_start, Host::framework_default},      {Launcher::next_start, Host::wildcard},
    {Launcher::next_start, Host::real_address},           {Launcher::next_standalone, Host::framework_default},
    {Launcher::next_standalone, Host::real_address},      {Launcher::api, Host::framework_default},
    {Launcher::api, Host::wildcard},                      {Launcher::api, Host::real_address},
    {Launcher::ws, Host::framework_default},              {Launcher::ws, Host::wildcard},
    {Launcher::ws, Host::real_address},
};

std::string label(const ::testing::TestParamInfo<Service>& info) { return info.param.label(); }

// Where the service's own choice puts it: `::` (Node's and next start's default), or
// the address it was given (0.0.0.0 or the real one; the standalone server's default is 0.0.0.0).
std::string unprotected_local(const Service& service) {
    std::string port = ":" + std::to_string(service.port());
    switch (service.host) {
        case Host::framework_default: return service.launcher == Launcher::next_standalone ? "0.0.0.0" + port : "[::]" + port;
        case Host::wildcard: return "0.0.0.0" + port;
        case Host::real_address: return std::string(doable::kRealAddress) + port;
    }
    return "";
}

// Where the library puts it: ::ffff:127.0.0.1 for a dual-stack '::' socket (dual_stack = "ipv4"),
// 127.0.0.1 for an IPv4 one.
std::string protected_local(const Service& service) {
    std::string asked = unprotected_local(service);
    std::string port = ":" + std::to_string(service.port());
    return asked.starts_with("[::]") ? "[::ffff:127.0.0.1]" + port : "127.0.0.1" + port;
}

// Expects a 200 response carrying {"ok":true,"service":NAME}.
void expect_healthy(const std::optional<std::string>& response, const Service& service, const std::string& where) {
    ASSERT_TRUE(response.has_value()) << "no HTTP response from " << where;
    std::string status_line = response->substr(0, response->find("\r\n"));
    EXPECT_NE(status_line.find(" 200 "), std::string::npos) << where << ": " << *response;
    EXPECT_NE(response->find("{\"ok\":true,\"service\":\"" + service.name() + "\"}"), std::string::npos)
        << where << ": " << *response;
}

// The API and WS servers print "NAME: listening on ADDRESS:PORT", read back from the socket.
void expect_listening_line(const std::string& out, const Service& service, const std::string& local) {
    if (service.launcher != Launcher::api && service.launcher != Launcher::ws) return;
    EXPECT_NE(out.find(service.name() + ": listening on " + local + "\n"), std::string::npos) << out;
}

TEST_P(DoableWithLibrary, EndsOnLoopbackAnswersAndAuditFindsNothingExposed) {
    const Service service = GetParam();
    const std::uint16_t port = service.port();
    bgtest::Process process = bgtest::Process::start(doable::protected_argv(service), doable::protected_env(service));

    std::string why;
    auto listeners = doable::wait_listening(process, port, why);
    ASSERT_TRUE(listeners.has_value()) << why;
    ASSERT_EQ(listeners->size(), 1u) << "more than one listener on port " << port;
    EXPECT_EQ(listeners->front().local, protected_local(service));  // from /proc/net
    EXPECT_TRUE(doable::is_ipv4_loopback(listeners->front().local, port)) << listeners->front().local;

    // It answers on 127.0.0.1, and nothing answers on the real address.
    expect_healthy(doable::http_get_patiently("127.0.0.1", port, service.health_path()), service, "127.0.0.1");
    EXPECT_FALSE(bgtest::http_get(doable::kRealAddress, port, service.health_path()).has_value())
        << "the service answers on " << doable::kRealAddress;
    if (service.launcher == Launcher::ws) {
        bgtest::Result roundtrip = doable::ws_roundtrip(port);
        EXPECT_EQ(roundtrip.status, 0) << roundtrip.out << roundtrip.err;
        EXPECT_NE(roundtrip.out.find("ping echoed"), std::string::npos) << roundtrip.out;
    }

    doable::Audit audit = doable::audit();
    EXPECT_EQ(audit.status, 0) << audit.out << audit.err;
    ASSERT_FALSE(audit.document.is_discarded()) << audit.out << audit.err;
    EXPECT_EQ(audit.document["exposed"], 0) << audit.out;
    EXPECT_EQ(audit.document["unprotected"], 0) << audit.out;
    auto entries = audit.tcp_on_port(port);
    ASSERT_EQ(entries.size(), 1u) << audit.out;
    EXPECT_EQ(entries[0]["local"], protected_local(service)) << entries[0];
    EXPECT_EQ(entries[0]["verdict"], "ok") << entries[0];
    EXPECT_EQ(entries[0]["protected"], true) << entries[0];
    EXPECT_EQ(entries[0]["pid"], process.pid()) << entries[0];  // bindguard run exec'd the service
    EXPECT_EQ(entries[0]["service"], service.name()) << entries[0];

    bgtest::Result stopped = process.stop(SIGTERM, doable::kStopTimeout);
    EXPECT_EQ(stopped.status, 0) << stopped.out << stopped.err;
    expect_listening_line(stopped.out, service, protected_local(service));
    // The library's log line names the seeds' row.
    std::string logged = "rewrite tcp " + unprotected_local(service) + " -> " + protected_local(service) +
                         " rule=doable-" + service.name() + " program=";
    EXPECT_NE(stopped.err.find(logged), std::string::npos) << "expected \"" << logged << "\" in:\n" << stopped.err;
}

TEST_P(DoableWithoutLibrary, IsReportedExposedAndUnprotected) {
    const Service service = GetParam();
    const std::uint16_t port = service.port();
    bgtest::Process process = bgtest::Process::start(service.argv(), service.env());

    std::string why;
    auto listeners = doable::wait_listening(process, port, why);
    ASSERT_TRUE(listeners.has_value()) << why;
    ASSERT_EQ(listeners->size(), 1u) << "more than one listener on port " << port;
    EXPECT_EQ(listeners->front().local, unprotected_local(service));

    // Really exposed: it answers on the namespace's non-loopback address.
    expect_healthy(doable::http_get_patiently(doable::kRealAddress, port, service.health_path()), service,
                   doable::kRealAddress);

    doable::Audit audit = doable::audit();
    EXPECT_EQ(audit.status, 1) << audit.out << audit.err;
    ASSERT_FALSE(audit.document.is_discarded()) << audit.out << audit.err;
    EXPECT_EQ(audit.document["exposed"], 1) << audit.out;
    EXPECT_EQ(audit.document["unprotected"], 1) << audit.out;
    auto entries = audit.tcp_on_port(port);
    ASSERT_EQ(entries.size(), 1u) << audit.out;
    EXPECT_EQ(entries[0]["local"], unprotected_local(service)) << entries[0];
    EXPECT_EQ(entries[0]["verdict"], "exposed") << entries[0];
    EXPECT_EQ(entries[0]["unprotected"], true) << entries[0];
    EXPECT_EQ(entries[0]["protected"], false) << entries[0];
    EXPECT_EQ(entries[0]["pid"], process.pid()) << entries[0];

    bgtest::Result stopped = process.stop(SIGTERM, doable::kStopTimeout);
    EXPECT_EQ(stopped.status, 0) << stopped.out << stopped.err;
    expect_listening_line(stopped.out, service, unprotected_local(service));
    EXPECT_EQ(stopped.err.find("bindguard"), std::string::npos) << stopped.err;
}

INSTANTIATE_TEST_SUITE_P(Doable, DoableWithLibrary, ::testing::ValuesIn(kCases), label);
INSTANTIATE_TEST_SUITE_P(Doable, DoableWithoutLibrary, ::testing::ValuesIn(kCases), label);

}  // namespace
