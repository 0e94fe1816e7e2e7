#include "kernel/kernel_support.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "support/process.hpp"

namespace bgtest {
namespace {

namespace k = bindguard::kernel;

// A name no other test process uses: bgtest-PID-N.
std::string unique_name(const char* prefix) {
    static int counter = 0;
    return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// Kills every process in the cgroup at path and below; waits up to 5 s for it to empty.
void empty_cgroup(const std::string& path) {
    for (int round = 0; round < 50 && k::cgroup_populated(path); ++round) {
        std::error_code error;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(path, error))
            if (entry.is_directory(error))
                for (int pid : k::cgroup_pids(entry.path().string())) ::kill(pid, SIGKILL);
        for (int pid : k::cgroup_pids(path)) ::kill(pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

}  // namespace

std::optional<std::string> kernel_unavailable() {
    if (::geteuid() != 0) return "not root: loading BPF programs needs root";
    if (k::cgroup2_mount().empty()) return "cgroup v2 is not mounted (no cgroup2 in /proc/self/mountinfo)";
    utsname system{};
    int major = 0, minor = 0;
    if (::uname(&system) != 0 || std::sscanf(system.release, "%d.%d", &major, &minor) != 2)
        return std::nullopt;  // then loading tells
    if (major < 5 || (major == 5 && minor < 8))
        return std::string("Linux ") + system.release + " is older than 5.8 (the BPF ring buffer the twin reports into)";
    return std::nullopt;
}

std::optional<std::string> kernel_load_error() {
    static std::optional<std::optional<std::string>> cached;
    if (cached) return *cached;
    const std::string pin_dir = "/sys/fs/bpf/" + unique_name("bgtest-probe");
    try {
        k::Programs programs = k::Programs::open_or_load(pin_dir);
        (void)programs;
        k::unpin(pin_dir);
        cached = std::optional<std::string>();
    } catch (const k::KernelError& error) {
        k::unpin(pin_dir);
        cached = std::optional<std::string>(std::string("the BPF programs do not load (a failure, not a reason to "
                                                        "skip: this machine can run them): ") + error.what());
    }
    return *cached;
}

KernelInstall::KernelInstall() {
    if (const char* previous = ::getenv("BINDGUARD_KERNEL_NAME")) previous_name_ = previous;
    const std::string name = unique_name("bgtest");
    ::setenv("BINDGUARD_KERNEL_NAME", name.c_str(), 1);
    names_ = k::names();
}

KernelInstall::~KernelInstall() {
    if (!names_.cgroup_subtree.empty() && std::filesystem::exists(names_.cgroup_subtree)) {
        for (const std::string& path : cgroups()) {
            empty_cgroup(path);
            k::remove_cgroup(path);
        }
        // A log relay may still be on its way out of it (it has closed its output first).
        for (int wait = 0; wait < 50 && !k::remove_cgroup(names_.cgroup_subtree); ++wait)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    k::unpin(names_.pin_dir);
    if (previous_name_) ::setenv("BINDGUARD_KERNEL_NAME", previous_name_->c_str(), 1);
    else ::unsetenv("BINDGUARD_KERNEL_NAME");
}

std::vector<std::string> KernelInstall::cgroups() const {
    std::vector<std::string> paths;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(names_.cgroup_subtree, error))
        if (entry.is_directory(error)) paths.push_back(entry.path().string());
    return paths;
}

bool KernelInstall::wait_until_no_cgroups(int timeout_ms) const {
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        if (cgroups().empty()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

TestCgroupTree::TestCgroupTree(const std::string& name)
    : path_(k::cgroup2_mount() + "/" + unique_name(name.c_str())) {
    if (::mkdir(path_.c_str(), 0755) != 0) throw std::runtime_error("cannot make the cgroup " + path_);
}

TestCgroupTree::~TestCgroupTree() {
    empty_cgroup(path_);
    k::remove_cgroup(path_);
}

NetNs::NetNs() : name_(unique_name("bgtest-ns")) {
    Result made = run({"ip", "netns", "add", name_});
    if (made.status != 0) throw std::runtime_error("ip netns add " + name_ + ": " + made.err);
    run({"ip", "netns", "exec", name_, "ip", "link", "set", "lo", "up"});
}

NetNs::~NetNs() {
    // Whatever still runs in it keeps the namespace alive but unnamed; kill it first.
    run({"sh", "-c", "ip netns pids " + name_ + " | xargs -r kill -9"});
    run({"ip", "netns", "del", name_});
}

NetPair::NetPair() {
    const std::string veth = "bgv" + std::to_string(::getpid() % 100000);
    Result made = sh("ip link add " + veth + "a netns " + server.name() + " type veth peer name " + veth + "b netns " +
                     client.name() + " && ip -n " + server.name() + " addr add 10.77.0.1/24 dev " + veth +
                     "a && ip -n " + client.name() + " addr add 10.77.0.2/24 dev " + veth + "b && ip -n " +
                     server.name() + " link set " + veth + "a up && ip -n " + client.name() + " link set " + veth +
                     "b up");
    if (made.status != 0) throw std::runtime_error("veth setup failed: " + made.err);
}

std::string bin_path(const std::string& name) {
    return std::filesystem::path(cli_path()).parent_path().string() + "/" + name;
}

std::string too_large_policy_text() {
    std::string addresses, ports;
    for (int i = 1; i <= 20; ++i) {
        addresses += (i > 1 ? ", " : "") + std::string("\"10.0.") + std::to_string(i) + ".0/24\"";
        ports += (i > 1 ? ", " : "") + std::to_string(1000 + i);
    }
    return "version = 1\n[[rule]]\nname = \"big\"\naction = \"allow\"\naddress = [" + addresses + "]\nport = [" +
           ports + "]\n";
}

}  // namespace bgtest
