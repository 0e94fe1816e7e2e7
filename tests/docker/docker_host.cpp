// DockerHost: see docker_host.hpp.
#include "docker/docker_host.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace dockertest {
namespace {

using namespace std::chrono_literals;

constexpr const char* kDocker = "/usr/bin/docker";  // Debian's client, the same version as dockerd

bool exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

// Waits until ready() or timeout. Returns ready()'s last answer.
template <typename Ready>
bool wait_until(Ready ready, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ready()) {
        if (std::chrono::steady_clock::now() > deadline) return ready();
        std::this_thread::sleep_for(50ms);
    }
    return true;
}

// The inode of /proc/PID/ns/net ("" when it cannot be read). Returns it.
std::string net_namespace(pid_t pid) {
    char target[256];
    ssize_t n = ::readlink(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "";
}

// Every process in the network namespace named (net:[INODE]), except except. Returns their pids.
std::vector<pid_t> processes_in(const std::string& namespace_link, pid_t except) {
    std::vector<pid_t> found;
    DIR* proc = ::opendir("/proc");
    if (!proc) return found;
    while (dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == except) continue;
        if (net_namespace(static_cast<pid_t>(pid)) == namespace_link) found.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return found;
}

// A busybox root with a page for httpd, as a tarball for `docker import`. Returns its path.
std::string busybox_tarball(const std::string& dir) {
    bgtest::Result result = bgtest::run({"sh", "-c",
                                         "set -e; r=\"$0/image-root\"; mkdir -p \"$r/bin\" \"$r/www\" \"$r/tmp\"; "
                                         "cp /bin/busybox \"$r/bin/busybox\"; "
                                         "for a in sh httpd sleep nc wget true cat echo; do ln -sf busybox \"$r/bin/$a\"; done; "
                                         "echo 'hello from the container' > \"$r/www/index.html\"; "
                                         "tar -C \"$r\" -cf \"$0/image.tar\" .",
                                         dir});
    if (result.status != 0) throw std::runtime_error("cannot make the busybox image root: " + result.err);
    return dir + "/image.tar";
}

}  // namespace

std::string missing_prerequisite() {
    for (const char* program : {"/usr/sbin/dockerd", kDocker, "/usr/bin/containerd", "/usr/sbin/runc", "/bin/busybox"})
        if (!exists(program)) return std::string(program) + " is missing: run scripts/setup (docker.io, busybox-static)";
    if (::geteuid() != 0) return "the Docker tests need root (namespaces, dockerd)";
    return "";
}

DockerHost::DockerHost(std::optional<std::string> policy_text, bool userland_proxy)
    : dir_(bgtest::temp_dir()), policy_text_(std::move(policy_text)), userland_proxy_(userland_proxy) {
    try {
        if (std::string missing = missing_prerequisite(); !missing.empty()) throw std::runtime_error(missing);
        // The Docker host: private mount and network namespaces, /run and /etc/docker its own
        // (dockerd writes its trust key, key.json, into /etc/docker whatever --config-file says).
        holder_ = std::make_unique<bgtest::Process>(bgtest::Process::start(
            {"unshare", "-m", "-n", "--propagation", "private", "sh", "-c",
             "mount -t tmpfs -o mode=0755 bindguard-test /run && mkdir -p /run/docker/plugins && "
             "mount -t tmpfs -o mode=0755 bindguard-test /etc/docker && ip link set lo up && "
             "touch \"$0/host-ready\" && exec sleep infinity",
             dir_}));
        remote_ = std::make_unique<bgtest::Process>(bgtest::Process::start(
            {"unshare", "-n", "sh", "-c", "ip link set lo up && touch \"$0/remote-ready\" && exec sleep infinity", dir_}));
        if (!wait_until([&] { return exists(dir_ + "/host-ready") && exists(dir_ + "/remote-ready"); }, 10s))
            throw std::runtime_error("the namespaces did not start: " + holder_->err_so_far() + remote_->err_so_far());
        bgtest::Result veth = sh("ip link add bgdock0 type veth peer name bgdock1 netns " + std::to_string(remote_->pid()) +
                                 " && ip addr add " + kHostAddress + "/24 dev bgdock0 && ip link set bgdock0 up");
        if (veth.status != 0) throw std::runtime_error("cannot make the veth pair: " + veth.err);
        bgtest::Result client = remote("ip addr add 198.51.100.8/24 dev bgdock1 && ip link set bgdock1 up");
        if (client.status != 0) throw std::runtime_error("cannot address the remote end: " + client.err);
        if (policy_text_) {
            bgtest::write_file(policy_path(), *policy_text_);
            start_plugin();
        }
        start_dockerd();
        bgtest::Result imported = sh("exec " + std::string(kDocker) + " import \"$DIR/image.tar\" " + kImage);
        if (imported.status != 0) throw std::runtime_error("docker import failed: " + imported.err);
    } catch (...) {
        cleanup();
        throw;
    }
}

DockerHost::~DockerHost() { cleanup(); }

void DockerHost::start_dockerd() {
    busybox_tarball(dir_);
    // Docker's own packet rules (iptables) on, as on a real host: they are what publishes.
    bgtest::write_file(dir_ + "/daemon.json", std::string("{\"iptables\": true, \"ip6tables\": false, \"userland-proxy\": ") +
                                                  (userland_proxy_ ? "true" : "false") + "}\n");
    std::vector<std::string> argv = {"nsenter", "-t", std::to_string(holder_->pid()), "-m", "-n", "-r",
                                     "/usr/sbin/dockerd", "--data-root", dir_ + "/data", "--exec-root", dir_ + "/exec",
                                     "--pidfile", dir_ + "/dockerd.pid", "-H", "unix://" + socket(),
                                     "--config-file", dir_ + "/daemon.json"};
    if (policy_text_) argv.push_back("--authorization-plugin=bindguard");
    dockerd_ = std::make_unique<bgtest::Process>(bgtest::Process::start(argv));
    bool up = wait_until([&] { return !dockerd_->running() ? true : docker({"version"}, 10s).status == 0; }, 60s);
    if (!up || !dockerd_->running())
        throw std::runtime_error("dockerd did not start: " + dockerd_->err_so_far().substr(0, 20000) + "\nplugin: " + plugin_log());
}

void DockerHost::start_plugin() {
    if (plugin_) return;
    const std::string plugin_socket = "/proc/" + std::to_string(holder_->pid()) + "/root/run/docker/plugins/bindguard.sock";
    plugin_ = std::make_unique<bgtest::Process>(bgtest::Process::start(
        {"nsenter", "-t", std::to_string(holder_->pid()), "-m", "-n", "-r", bgtest::cli_path(), "docker", "authz", "--policy",
         policy_path()},
        {"-BINDGUARD_POLICY"}));
    if (!wait_until([&] { return exists(plugin_socket) || !plugin_->running(); }, 10s) || !plugin_->running())
        throw std::runtime_error("the plugin did not start: " + plugin_->err_so_far());
}

void DockerHost::stop_plugin() {
    if (!plugin_) return;
    bgtest::Result stopped = plugin_->stop(SIGTERM, 10s);
    plugin_log_ += stopped.err;
    plugin_.reset();
}

std::string DockerHost::plugin_log() const { return plugin_log_ + (plugin_ ? plugin_->err_so_far() : ""); }

// Every nsenter into the Docker host's mount namespace takes the holder's root (-r): the
// namespace's own root would be the machine's, outside a chroot the tests may run in.
bgtest::Result DockerHost::sh(const std::string& script, std::chrono::milliseconds timeout) {
    return bgtest::run({"nsenter", "-t", std::to_string(holder_->pid()), "-m", "-n", "-r", "sh", "-c", "cd \"$DIR\" && " + script},
                       {"DOCKER_HOST=unix://" + socket(), "DIR=" + dir_, "-DOCKER_CONFIG", "HOME=" + dir_}, timeout);
}

bgtest::Result DockerHost::docker(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
    std::vector<std::string> argv = {"nsenter", "-t", std::to_string(holder_->pid()), "-m", "-n", "-r", kDocker};
    argv.insert(argv.end(), args.begin(), args.end());
    return bgtest::run(argv, {"DOCKER_HOST=unix://" + socket(), "HOME=" + dir_, "-DOCKER_CONFIG"}, timeout);
}

bgtest::Result DockerHost::remote(const std::string& script, std::chrono::milliseconds timeout) {
    return bgtest::run({"nsenter", "-t", std::to_string(remote_->pid()), "-n", "sh", "-c", script}, {}, timeout);
}

bgtest::Result DockerHost::bindguard(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    std::vector<std::string> argv = {"nsenter", "-t", std::to_string(holder_->pid()), "-m", "-n", "-r", bgtest::cli_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> full_env = {"DOCKER_HOST=unix://" + socket(), "-BINDGUARD_POLICY", "-BINDGUARD_SHIM"};
    full_env.insert(full_env.end(), env.begin(), env.end());
    return bgtest::run(argv, full_env);
}

bgtest::Process DockerHost::start(const std::vector<std::string>& argv) {
    std::vector<std::string> full = {"nsenter", "-t", std::to_string(holder_->pid()), "-m", "-n", "-r"};
    full.insert(full.end(), argv.begin(), argv.end());
    return bgtest::Process::start(full, {"DOCKER_HOST=unix://" + socket()});
}

std::optional<std::string> DockerHost::get_locally(std::uint16_t port) {
    bgtest::Result got = sh("exec curl -sS --max-time 3 http://127.0.0.1:" + std::to_string(port) + "/");
    if (got.status != 0) return std::nullopt;
    return got.out;
}

std::optional<std::string> DockerHost::get_remotely(std::uint16_t port) {
    bgtest::Result got = remote("exec curl -sS --max-time 3 http://" + std::string(kHostAddress) + ":" +
                                std::to_string(port) + "/");
    if (got.status != 0) return std::nullopt;
    return got.out;
}

void DockerHost::cleanup() noexcept {
    try {
        if (dockerd_ && dockerd_->running()) {
            // Every request passes the plugin: it must answer for the removals to go through.
            if (policy_text_) start_plugin();
            sh("ids=$(" + std::string(kDocker) + " ps -aq); [ -z \"$ids\" ] || " + kDocker + " rm -f $ids; " + kDocker +
               " network prune -f; " + kDocker + " volume prune -f; " + kDocker + " rmi -f " + kImage, 60s);
            dockerd_->stop(SIGTERM, 30s);
        }
        dockerd_.reset();
        stop_plugin();
        // containerd and its shims, or anything else a test left in the Docker host's namespace.
        if (holder_) {
            std::string link = net_namespace(holder_->pid());
            if (!link.empty())
                for (pid_t pid : processes_in(link, holder_->pid())) ::kill(pid, SIGKILL);
            wait_until([&] { return processes_in(link, holder_->pid()).empty(); }, 10s);
        }
        holder_.reset();  // its mount namespace (the tmpfs, dockerd's mounts) and network namespace go with it
        remote_.reset();
        bgtest::run({"rm", "-rf", "--one-file-system", dir_}, {}, 60s);
    } catch (...) {
    }
}

}  // namespace dockertest
