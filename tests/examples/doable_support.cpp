#include "doable_support.hpp"

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

namespace doable {

std::string dir() { return bgtest::source_dir() + "/examples/doable"; }

std::string policy_path() { return dir() + "/policy.toml"; }

::testing::AssertionResult services_built() {
    for (const char* needed : {"node_modules/next/dist/bin/next", "node_modules/ws", "node_modules/hono",
                               "node_modules/@hono/node-server", ".next/BUILD_ID", ".next/standalone/server.js"}) {
        if (!std::filesystem::exists(dir() + "/" + needed))
            return ::testing::AssertionFailure()
                   << dir() << "/" << needed << " is missing: the Doable services are not installed or not built. "
                   << "Run scripts/setup (it runs `npm ci` and `npm run build` in examples/doable).";
    }
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult enter_private_netns() {
    if (::unshare(CLONE_NEWNET) != 0)
        return ::testing::AssertionFailure() << "unshare(CLONE_NEWNET): " << std::strerror(errno)
                                             << " (these tests need root to make a private network namespace)";
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "link", "set", "lo", "up"},
        {"ip", "link", "add", "bg-doable0", "type", "veth", "peer", "name", "bg-doable1"},
        {"ip", "address", "add", std::string(kRealAddress) + "/24", "dev", "bg-doable0"},
        {"ip", "link", "set", "bg-doable0", "up"},
        {"ip", "link", "set", "bg-doable1", "up"},
    };
    for (const auto& step : steps) {
        bgtest::Result result = bgtest::run(step, {"-LD_PRELOAD"});
        if (result.status != 0) {
            std::string command;
            for (const auto& arg : step) command += arg + " ";
            return ::testing::AssertionFailure() << command << "exited " << result.status << ": " << result.err;
        }
    }
    if (!bgtest::sockets().empty()) return ::testing::AssertionFailure() << "the new network namespace is not empty";
    return ::testing::AssertionSuccess();
}

std::string Service::name() const {
    switch (launcher) {
        case Launcher::next_start:
        case Launcher::next_standalone: return "web";
        case Launcher::api: return "api";
        case Launcher::ws: return "ws";
    }
    return "?";
}

std::uint16_t Service::port() const {
    switch (launcher) {
        case Launcher::next_start:
        case Launcher::next_standalone: return 3000;
        case Launcher::api: return 4000;
        case Launcher::ws: return 4001;
    }
    return 0;
}

std::string Service::health_path() const { return name() == "web" ? "/api/health" : "/health"; }

std::string Service::label() const {
    std::string text;
    switch (launcher) {
        case Launcher::next_start: text = "next_start"; break;
        case Launcher::next_standalone: text = "next_standalone"; break;
        case Launcher::api: text = "api"; break;
        case Launcher::ws: text = "ws"; break;
    }
    switch (host) {
        case Host::framework_default: return text + "_default_host";
        case Host::wildcard: return text + "_0_0_0_0";
        case Host::real_address: return text + "_real_address";
    }
    return text;
}

namespace {

// The address a Host stands for, when one is given.
std::string host_address(Host host) { return host == Host::wildcard ? "0.0.0.0" : kRealAddress; }

// "NAME=ADDRESS" for a given host, "-NAME" for the framework's default. Returns the entry.
std::string host_variable(const std::string& name, Host host) {
    return host == Host::framework_default ? "-" + name : name + "=" + host_address(host);
}

}  // namespace

std::vector<std::string> Service::argv() const {
    switch (launcher) {
        case Launcher::next_start: {
            std::vector<std::string> argv = {"node", dir() + "/node_modules/next/dist/bin/next", "start", dir(),
                                             "-p", std::to_string(port())};
            if (host != Host::framework_default) {
                argv.push_back("-H");
                argv.push_back(host_address(host));
            }
            return argv;
        }
        case Launcher::next_standalone: return {"node", dir() + "/.next/standalone/server.js"};
        case Launcher::api: return {"node", dir() + "/api/server.mjs"};
        case Launcher::ws: return {"node", dir() + "/ws/server.mjs"};
    }
    return {};
}

std::vector<std::string> Service::env() const {
    std::vector<std::string> env = clean_env();
    // CI may export HOSTNAME or PORT; each service gets exactly what its case says.
    for (const char* name : {"HOSTNAME", "PORT", "API_HOST", "WS_HOST", "NODE_OPTIONS"}) env.push_back(std::string("-") + name);
    env.push_back("NEXT_TELEMETRY_DISABLED=1");
    switch (launcher) {
        case Launcher::next_start: break;
        case Launcher::next_standalone:
            env.push_back("PORT=" + std::to_string(port()));
            env.push_back(host_variable("HOSTNAME", host));
            break;
        case Launcher::api:
            env.push_back("PORT=" + std::to_string(port()));
            env.push_back(host_variable("API_HOST", host));
            break;
        case Launcher::ws:
            env.push_back("PORT=" + std::to_string(port()));
            env.push_back(host_variable("WS_HOST", host));
            break;
    }
    return env;
}

std::vector<std::string> protected_argv(const Service& service) {
    std::vector<std::string> argv = {bgtest::cli_path(), "run", "--policy", policy_path(), "--service", service.name(), "--"};
    for (const std::string& arg : service.argv()) argv.push_back(arg);
    return argv;
}

std::vector<std::string> protected_env(const Service& service) {
    std::vector<std::string> env = service.env();
    if (bgtest::sanitized_build()) {
        std::string preload = bgtest::preload_value();  // "RUNTIME:LIBRARY"
        env.push_back("LD_PRELOAD=" + preload.substr(0, preload.rfind(':')));
    }
    return env;
}

std::vector<std::string> clean_env() {
    std::vector<std::string> env = {"-LD_PRELOAD", "-BINDGUARD_POLICY", "-BINDGUARD_SERVICE", "-BINDGUARD_SHIM"};
    for (const std::string& entry : bgtest::shim_env())
        if (!entry.starts_with("LD_PRELOAD=")) env.push_back(entry);
    return env;
}

std::optional<std::vector<bgtest::Socket>> wait_listening(bgtest::Process& process, std::uint16_t port,
                                                          std::string& why) {
    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::vector<bgtest::Socket> listeners;
        for (const bgtest::Socket& socket : bgtest::sockets())
            if (socket.proto == "tcp" && socket.listening && socket.port == port) listeners.push_back(socket);
        if (!listeners.empty()) return listeners;
        if (!process.running()) {
            bgtest::Result result = process.stop();
            why = "it exited with status " + std::to_string(result.status) + " before listening on port " +
                  std::to_string(port) + "; stdout:\n" + result.out + "\nstderr:\n" + result.err;
            return std::nullopt;
        }
        std::this_thread::sleep_for(50ms);
    }
    why = "nothing listened on port " + std::to_string(port) + " within " +
          std::to_string(kStartTimeout.count() / 1000) + " s; stdout:\n" + process.out_so_far() + "\nstderr:\n" +
          process.err_so_far();
    return std::nullopt;
}

std::optional<std::string> http_get_patiently(const std::string& ip, std::uint16_t port, const std::string& path) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
        std::optional<std::string> response = bgtest::http_get(ip, port, path);
        if (response || std::chrono::steady_clock::now() >= deadline) return response;
        std::this_thread::sleep_for(200ms);
    }
}

bgtest::Result ws_roundtrip(std::uint16_t port) {
    return bgtest::run({"node", dir() + "/scripts/ws-roundtrip.mjs", std::to_string(port)}, clean_env(), 30s);
}

std::vector<nlohmann::json> Audit::tcp_on_port(std::uint16_t port) const {
    std::vector<nlohmann::json> found;
    if (!document.is_object() || !document.contains("sockets")) return found;
    for (const nlohmann::json& socket : document["sockets"])
        if (socket.value("proto", "") == "tcp" && socket.value("port", 0) == port) found.push_back(socket);
    return found;
}

Audit audit() {
    bgtest::Result result = bgtest::run({bgtest::cli_path(), "audit", "--policy", policy_path(), "--json"}, clean_env(), 60s);
    Audit audit;
    audit.status = result.status;
    audit.out = result.out;
    audit.err = result.err;
    audit.document = nlohmann::json::parse(result.out, nullptr, false);
    return audit;
}

bool is_ipv4_loopback(const std::string& local, std::uint16_t port) {
    std::string suffix = ":" + std::to_string(port);
    return local == "127.0.0.1" + suffix || local == "[::ffff:127.0.0.1]" + suffix;
}

}  // namespace doable
