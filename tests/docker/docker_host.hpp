// A private Docker host for the tests: Debian's dockerd (with the containerd it starts
// itself) in private network and mount namespaces, with its own data root, exec root,
// API socket and daemon.json under a temporary directory, a tmpfs on /run (so the plugin
// directory /run/docker/plugins is its own), `bindguard docker authz` as its authorization
// plugin, an image imported from a busybox root (no registry needed), and a veth pair to a
// second network namespace, the remote client: the Docker host is 198.51.100.7, the client
// 198.51.100.8 (TEST-NET-2). Never the host's daemon, socket or /etc/docker.
// The destructor removes every container, network, image, process, namespace and file.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace dockertest {

inline constexpr const char* kHostAddress = "198.51.100.7";
inline constexpr const char* kImage = "bgtest/busybox:1";

// Why this machine cannot run the Docker tests ("" when it can): no dockerd, docker client
// or busybox-static, not root, or no way to make namespaces.
std::string missing_prerequisite();

class DockerHost {
public:
    // Starts the namespaces, the plugin with policy_text (when given) and dockerd with
    // --authorization-plugin=bindguard (without a plugin: no such option), and imports
    // the image. Throws std::runtime_error (with dockerd's and the plugin's log) on failure.
    // userland_proxy: daemon.json's "userland-proxy" (false: no docker-proxy, the packet rules alone).
    explicit DockerHost(std::optional<std::string> policy_text, bool userland_proxy = true);
    ~DockerHost();
    DockerHost(const DockerHost&) = delete;
    DockerHost& operator=(const DockerHost&) = delete;

    // Debian's docker client (/usr/bin/docker) on this host's socket, with args.
    bgtest::Result docker(const std::vector<std::string>& args, std::chrono::milliseconds timeout = std::chrono::seconds(60));
    // A shell script in the Docker host's namespaces (DOCKER_HOST set to its socket, the
    // temporary directory as $DIR and the working directory).
    bgtest::Result sh(const std::string& script, std::chrono::milliseconds timeout = std::chrono::seconds(60));
    // A shell script in the remote client's network namespace.
    bgtest::Result remote(const std::string& script, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // The built `bindguard` with args, in the Docker host's namespaces, with DOCKER_HOST set.
    bgtest::Result bindguard(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

    // A program in the Docker host's namespaces, in the background.
    bgtest::Process start(const std::vector<std::string>& argv);

    // Starts (again) and stops the plugin; what it has logged so far.
    void start_plugin();
    void stop_plugin();
    std::string plugin_log() const;
    bool plugin_running() const { return plugin_ != nullptr; }

    // The temporary directory (host paths: the namespaces see the same file system, /run aside).
    const std::string& dir() const { return dir_; }
    std::string policy_path() const { return dir_ + "/policy.toml"; }
    std::string socket() const { return dir_ + "/docker.sock"; }

    // An HTTP GET of http://ADDRESS:PORT/ from the Docker host (address 127.0.0.1) or from
    // the remote client (kHostAddress). Returns the body, or nullopt when nothing answered.
    std::optional<std::string> get_locally(std::uint16_t port);
    std::optional<std::string> get_remotely(std::uint16_t port);

private:
    void start_dockerd();
    void cleanup() noexcept;

    std::string dir_;
    std::optional<std::string> policy_text_;
    bool userland_proxy_ = true;
    std::unique_ptr<bgtest::Process> holder_, remote_, plugin_, dockerd_;
    std::string plugin_log_;  // of the plugins stopped so far
};

}  // namespace dockertest
