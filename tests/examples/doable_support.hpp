// Shared by the tests of examples/doable: where the services are, how each one is started
// (with or without the library), a private network namespace for the test process, and
// `bindguard audit --json` parsed.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.hpp"

namespace doable {

using namespace std::chrono_literals;

// The non-loopback address that enter_private_netns() puts on a veth interface.
inline constexpr const char* kRealAddress = "10.253.0.1";

// Generous: `next start` takes 1-2 s alone, much more on 2 loaded CI cores.
inline constexpr std::chrono::milliseconds kStartTimeout = 60s;
// How long a service may take to exit after SIGTERM (they close within 3 s, or exit 1).
inline constexpr std::chrono::milliseconds kStopTimeout = 15s;

// Absolute path of examples/doable. Returns it.
std::string dir();
// examples/doable/policy.toml. Returns its absolute path.
std::string policy_path();

// Success when the Node modules are installed and the Next app is built (node_modules,
// .next/BUILD_ID, .next/standalone/server.js); otherwise a failure that says to run
// scripts/setup. The tests never install or build anything themselves.
::testing::AssertionResult services_built();

// Moves the calling process (and so every program it starts later) into a new network
// namespace: lo up, and a veth pair with kRealAddress/24 on one end, both ends up.
// Nothing a test starts afterwards can be reached from, or expose anything on, the host.
// Returns success, or a failure saying which step failed.
::testing::AssertionResult enter_private_netns();

// How a service is started.
enum class Launcher {
    next_start,       // node node_modules/next/dist/bin/next start DIR -p PORT [-H HOST]
    next_standalone,  // node .next/standalone/server.js, PORT and HOSTNAME from the environment
    api,              // node api/server.mjs, PORT and API_HOST
    ws,               // node ws/server.mjs, PORT and WS_HOST
};

// Which address the service is told to listen on.
enum class Host {
    framework_default,  // none at all: Node's '::', next start's '::', the standalone server's 0.0.0.0
    wildcard,           // 0.0.0.0 given explicitly
    real_address,       // kRealAddress (the standalone server's HOSTNAME)
};

struct Service {
    Launcher launcher;
    Host host;

    // "web", "api" or "ws": the BINDGUARD_SERVICE name and the seeds' row.
    std::string name() const;
    // The seeds' port: 3000, 4000 or 4001 (free in a fresh network namespace).
    std::uint16_t port() const;
    // "/api/health" for web, "/health" otherwise.
    std::string health_path() const;
    // A gtest-safe label, e.g. "next_start_default".
    std::string label() const;
    // The program and its arguments, without the library.
    std::vector<std::string> argv() const;
    // The environment changes for it (host settings set or removed, library variables removed).
    std::vector<std::string> env() const;
};

// Prints the label (for gtest's names of parameterised tests). Returns nothing.
inline void PrintTo(const Service& service, std::ostream* out) { *out << service.label(); }

// argv under `bindguard run --policy policy_path() --service NAME --`. Returns it.
std::vector<std::string> protected_argv(const Service& service);
// The environment changes for protected_argv(service): service.env(), and in a sanitizer
// build the sanitizer runtime in LD_PRELOAD (bindguard run puts the library before it),
// without which node, not instrumented, cannot load an instrumented library.
std::vector<std::string> protected_env(const Service& service);

// Environment changes for programs started by the tests: no library or policy inherited
// from the test's environment; in a sanitizer build, the options foreign hosts need.
std::vector<std::string> clean_env();

// Waits until a TCP socket listens on port, while process runs. Returns every TCP listener
// on that port then, or nullopt (with why set: timeout or early exit and its stderr).
std::optional<std::vector<bgtest::Socket>> wait_listening(bgtest::Process& process, std::uint16_t port,
                                                          std::string& why);

// GET path from ip:port, retried for up to 20 s while no response comes (a listener whose
// application is still starting). Returns the response or nullopt.
std::optional<std::string> http_get_patiently(const std::string& ip, std::uint16_t port, const std::string& path);

// `node scripts/ws-roundtrip.mjs PORT`. Returns what it did.
bgtest::Result ws_roundtrip(std::uint16_t port);

// `bindguard audit --policy policy_path() --json`, parsed.
struct Audit {
    int status = -1;
    std::string out, err;
    nlohmann::json document;  // discarded when the output is not JSON
    // The entries of "sockets" with this port and protocol tcp.
    std::vector<nlohmann::json> tcp_on_port(std::uint16_t port) const;
};
Audit audit();

// True when text is 127.0.0.1:PORT or [::ffff:127.0.0.1]:PORT.
bool is_ipv4_loopback(const std::string& local, std::uint16_t port);

}  // namespace doable
