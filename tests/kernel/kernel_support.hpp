// Support for the kernel twin's tests: a private installation (own pin directory and
// cgroup subtree, named bgtest-PID-N through BINDGUARD_KERNEL_NAME) that is removed
// with everything in it when the test ends, pass or fail; private network namespaces.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "bindguard/kernel.hpp"

namespace bgtest {

// Why this machine cannot run the kernel twin, or nullopt when it can: not root, no
// cgroup v2, or a kernel older than the twin needs (Linux 5.8, the BPF ring buffer), each
// checked directly. Nothing else is a reason to skip.
std::optional<std::string> kernel_unavailable();
// Why the BPF programs do not load here (a verifier rejection, a missing map type...), or
// nullopt when they do: a failure of the twin, never a reason to skip. Loading is tried
// in a scratch installation that is removed again.
std::optional<std::string> kernel_load_error();

// For a test's SetUp() or body: skips it (with the reason) only where the machine cannot
// run the twin (kernel_unavailable()); fails it when the programs do not load.
#define BGTEST_REQUIRE_KERNEL()                                                    \
    do {                                                                           \
        if (auto reason_ = ::bgtest::kernel_unavailable()) GTEST_SKIP() << *reason_; \
        if (auto error_ = ::bgtest::kernel_load_error()) FAIL() << *error_;        \
    } while (false)

// A private installation. The constructor sets BINDGUARD_KERNEL_NAME for this process
// and its children; the destructor kills what is left in its cgroups, removes them,
// unpins the programs and restores the variable.
class KernelInstall {
public:
    KernelInstall();
    ~KernelInstall();
    KernelInstall(const KernelInstall&) = delete;
    KernelInstall& operator=(const KernelInstall&) = delete;

    const bindguard::kernel::Names& names() const { return names_; }
    // The cgroups under the subtree (direct children).
    std::vector<std::string> cgroups() const;
    // Waits up to timeout_ms for the subtree to have no cgroup left (the reapers' work).
    bool wait_until_no_cgroups(int timeout_ms = 5000) const;

private:
    bindguard::kernel::Names names_;
    std::optional<std::string> previous_name_;
};

// A cgroup tree of a test's own outside any installation's subtree (as a systemd unit's
// is): <cgroup2>/NAME, made by the constructor; the destructor kills what runs in it and
// removes it.
class TestCgroupTree {
public:
    explicit TestCgroupTree(const std::string& name);
    ~TestCgroupTree();
    TestCgroupTree(const TestCgroupTree&) = delete;
    TestCgroupTree& operator=(const TestCgroupTree&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

// A named network namespace (`ip netns add`), deleted by the destructor.
class NetNs {
public:
    NetNs();
    ~NetNs();
    NetNs(const NetNs&) = delete;
    NetNs& operator=(const NetNs&) = delete;
    const std::string& name() const { return name_; }

private:
    std::string name_;
};

// Two namespaces joined by a veth pair: "server" has 10.77.0.1/24, "client" 10.77.0.2/24;
// loopback is up in both.
struct NetPair {
    NetNs server, client;
    NetPair();
    static constexpr const char* kServerAddress = "10.77.0.1";
};

// Path of a built helper in bin/ (bg-bindtest-static, bg-uring, ...).
std::string bin_path(const std::string& name);

// The text of a valid policy whose rule set is too large for the kernel programs: one
// rule of 20 addresses x 20 ports, 400 entries.
std::string too_large_policy_text();

}  // namespace bgtest
