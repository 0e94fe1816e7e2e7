// The kernel twin gives decide()'s answers: one table of requests goes through decide()
// and through the BPF programs (real binds by a process in a protected cgroup, in a
// private network namespace), and every answer must be the same: the address the socket
// ends on, or EACCES.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bindguard/compile.hpp"
#include "bindguard/kernel.hpp"
#include "bindguard/policy.hpp"
#include "kernel/kernel_support.hpp"

namespace {

using namespace bindguard;
namespace k = bindguard::kernel;

// One bind of the table.
struct Case {
    std::string address;  // "0.0.0.0:80", "[::]:3000"
    Protocol protocol;
    bool v6only;
};

// What the kernel did with one bind.
struct Outcome {
    int ret = -1;
    int error = 0;
    sockaddr_storage local{};
};

// Who binds: what a rule's program, command and service filters see.
struct Context {
    std::string program, command, service;
};

// Every address kind decide() distinguishes, on ports that rules name and that they do not.
std::vector<Case> table() {
    const char* addresses[] = {"0.0.0.0",        "127.0.0.1",      "127.1.2.3",         "10.1.2.3",
                               "192.168.7.7",    "[::]",           "[::1]",             "[::ffff:0.0.0.0]",
                               "[::ffff:127.0.0.1]", "[::ffff:10.1.2.3]", "[2001:db8::5]", "[::ffff:192.168.7.7]"};
    const char* ports[] = {"0", "53", "80", "3000", "8080"};
    std::vector<Case> cases;
    for (const char* address : addresses) {
        const bool v6 = address[0] == '[';
        const bool mapped = std::strstr(address, "ffff") != nullptr;
        for (const char* port : ports)
            for (Protocol protocol : {Protocol::tcp, Protocol::udp})
                for (bool v6only : {false, true}) {
                    if (v6only && (!v6 || mapped)) continue;  // a v4-mapped address is invalid on a v6-only socket
                    cases.push_back({std::string(address) + ":" + port, protocol, v6only});
                }
    }
    return cases;
}

// Brings lo up in the current network namespace. Returns false on failure.
bool loopback_up() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    ifreq request{};
    std::strcpy(request.ifr_name, "lo");
    bool ok = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0;
    request.ifr_flags |= IFF_UP;
    ok = ok && ::ioctl(fd, SIOCSIFFLAGS, &request) == 0;
    ::close(fd);
    return ok;
}

bool write_text(const char* path, const char* text) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, text, std::strlen(text)) == static_cast<ssize_t>(std::strlen(text));
    ::close(fd);
    return ok;
}

// Makes each bind of cases in a child process that joins the cgroup, then enters a new
// network namespace in which any address may be bound (ip_nonlocal_bind). Returns the
// outcomes; fails the test when the child cannot set itself up.
std::vector<Outcome> bind_in_cgroup(const std::string& cgroup, const std::vector<Case>& cases) {
    const std::size_t size = sizeof(Outcome) * cases.size();
    void* shared = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
        ADD_FAILURE() << "mmap failed";
        return {};
    }
    auto* out = static_cast<Outcome*>(shared);
    std::vector<sockaddr_storage> addresses(cases.size());
    std::vector<socklen_t> lengths(cases.size());
    for (std::size_t i = 0; i < cases.size(); ++i) {
        Endpoint ep = *parse_endpoint(cases[i].address);
        if (ep.family == AF_INET) {
            sockaddr_in in{};
            in.sin_family = AF_INET;
            in.sin_port = htons(ep.port);
            std::memcpy(&in.sin_addr, ep.bytes.data(), 4);
            std::memcpy(&addresses[i], &in, sizeof in);
            lengths[i] = sizeof in;
        } else {
            sockaddr_in6 in6{};
            in6.sin6_family = AF_INET6;
            in6.sin6_port = htons(ep.port);
            std::memcpy(&in6.sin6_addr, ep.bytes.data(), 16);
            std::memcpy(&addresses[i], &in6, sizeof in6);
            lengths[i] = sizeof in6;
        }
    }
    const std::string procs = cgroup + "/cgroup.procs";
    pid_t child = ::fork();
    if (child == 0) {
        if (!write_text(procs.c_str(), "0")) ::_exit(10);
        if (::unshare(CLONE_NEWNET) != 0) ::_exit(11);
        if (!loopback_up()) ::_exit(12);
        if (!write_text("/proc/sys/net/ipv4/ip_nonlocal_bind", "1")) ::_exit(13);
        if (!write_text("/proc/sys/net/ipv6/ip_nonlocal_bind", "1")) ::_exit(14);
        for (std::size_t i = 0; i < cases.size(); ++i) {
            const int type = cases[i].protocol == Protocol::udp ? SOCK_DGRAM : SOCK_STREAM;
            int fd = ::socket(addresses[i].ss_family, type | SOCK_CLOEXEC, 0);
            if (fd < 0) ::_exit(15);
            if (addresses[i].ss_family == AF_INET6) {
                int v6only = cases[i].v6only ? 1 : 0;
                if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0) ::_exit(16);
            }
            out[i].ret = ::bind(fd, reinterpret_cast<sockaddr*>(&addresses[i]), lengths[i]);
            out[i].error = out[i].ret == 0 ? 0 : errno;
            socklen_t length = sizeof out[i].local;
            ::getsockname(fd, reinterpret_cast<sockaddr*>(&out[i].local), &length);
            ::close(fd);
        }
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    std::vector<Outcome> outcomes(out, out + cases.size());
    ::munmap(shared, size);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "the binding child failed its setup (exit " << WEXITSTATUS(status) << ")";
    return outcomes;
}

// The address a socket ended on, as text ("127.0.0.1:80").
std::string text_of(const sockaddr_storage& local) {
    Endpoint ep;
    if (local.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(local);
        ep.family = AF_INET;
        std::memcpy(ep.bytes.data(), &in.sin_addr, 4);
        ep.port = ntohs(in.sin_port);
    } else if (local.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(local);
        ep.family = AF_INET6;
        std::memcpy(ep.bytes.data(), &in6.sin6_addr, 16);
        ep.port = ntohs(in6.sin6_port);
    } else {
        return "-";
    }
    char buffer[80];
    format_endpoint(ep, buffer, sizeof buffer);
    return buffer;
}

// decide()'s answer in the same words as text_of(): where the socket must end, or "EACCES".
// A requested port 0 becomes whatever the kernel picks, so ports are compared only when asked.
// The request of case c for process who.
Request request_of(const Case& c, const Context& who) {
    Request request;
    request.address = *parse_endpoint(c.address);
    request.protocol = c.protocol;
    request.v6only = c.v6only;
    request.program = who.program;
    request.command = who.command;
    request.service = who.service;
    return request;
}

// Where the bind of request ends under decision ("EACCES" when refused), as the kernel's
// outcome is written: audit mode binds what was asked.
std::string outcome_of(Mode mode, const Request& request, const Decision& decision) {
    if (decision.action == Action::deny && mode != Mode::audit) return "EACCES";
    const Endpoint& where = mode == Mode::audit || decision.action == Action::allow ? request.address : decision.address;
    char buffer[80];
    format_endpoint(where, buffer, sizeof buffer);
    return buffer;
}

std::string expected(const Policy& policy, const Case& c, const Context& who) {
    const Request request = request_of(c, who);
    return outcome_of(policy.mode, request, decide(policy, request));
}

// expected() as the preload library decides: from the policy's compiled image.
std::string expected_from_image(const Policy& policy, const Case& c, const Context& who) {
    const std::vector<unsigned char> bytes = image::compile(policy, {});
    image::PolicyImage view;
    if (image::PolicyImage::check(bytes.data(), bytes.size(), true, view) != image::Problem::none) return "bad image";
    const image::ProcessPolicy process(view, who.program.c_str(), who.command.c_str(), who.service.c_str());
    const Request request = request_of(c, who);
    return outcome_of(policy.mode, request, process.decide(request));
}

std::string without_port(const std::string& text) { return text.substr(0, text.rfind(':')); }

class KernelDecide : public ::testing::Test {
protected:
    void SetUp() override {
        BGTEST_REQUIRE_KERNEL();
        install_.emplace();
        programs_.emplace(k::Programs::open_or_load(install_->names().pin_dir));
    }
    void TearDown() override {
        programs_.reset();
        install_.reset();
    }

    // Runs the whole table for policy_text and each context; every answer must equal decide()'s.
    void check(const std::string& policy_text, const std::vector<Context>& contexts) {
        LoadResult loaded = parse_policy(policy_text, "differential.toml");
        ASSERT_TRUE(loaded.ok()) << (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().to_string());
        const Policy& policy = *loaded.policy;
        const std::vector<Case> cases = table();
        for (const Context& who : contexts) {
            SCOPED_TRACE("program=" + who.program + " command=" + who.command + " service=" + who.service);
            const std::string cgroup = k::make_cgroup(install_->names().cgroup_subtree, k::CgroupKind::run);
            const std::uint64_t id = k::cgroup_id(cgroup);
            // The kernel's rule set from the compiled image, as run --kernel and kernel attach make it.
            programs_->set_policy(id, *k::compile_policy(image::process_policy(policy, who.program, who.command, who.service), "test"));
            programs_->attach(cgroup);
            const std::vector<Outcome> outcomes = bind_in_cgroup(cgroup, cases);
            programs_->remove_policy(id);
            EXPECT_TRUE(k::remove_cgroup(cgroup));
            ASSERT_EQ(outcomes.size(), cases.size());
            for (std::size_t i = 0; i < cases.size(); ++i) {
                const Case& c = cases[i];
                const std::string want = expected(policy, c, who);
                // The library's reader of the compiled image gives the same answer.
                EXPECT_EQ(expected_from_image(policy, c, who), want) << c.address << " " << to_string(c.protocol);
                std::string got = outcomes[i].ret == 0 ? text_of(outcomes[i].local)
                                  : outcomes[i].error == EACCES ? "EACCES"
                                                               : std::string("error ") + std::strerror(outcomes[i].error);
                const bool port_zero = c.address.ends_with(":0");
                if (port_zero && want != "EACCES" && got.find(':') != std::string::npos) got = without_port(got) + ":0";
                EXPECT_EQ(got, want) << to_string(c.protocol) << " " << c.address << (c.v6only ? " v6only" : "");
            }
        }
    }

    std::optional<bgtest::KernelInstall> install_;
    std::optional<k::Programs> programs_;
};

const std::vector<Context> kAnyone = {{"/usr/bin/prog", "prog", ""}};

TEST_F(KernelDecide, BuiltInPolicy) { check(std::string(builtin_policy_text()), kAnyone); }

TEST_F(KernelDecide, OtherLoopbackTargetsDualStackIpv6AndUdpEphemeralApplied) {
    check(R"(version = 1
[loopback]
ipv4 = "127.0.0.2"
dual_stack = "ipv6"
[default]
udp_ephemeral = "apply"
)",
          kAnyone);
}

TEST_F(KernelDecide, RulesOnAddressesPortsAndProtocolsFirstMatchWins) {
    check(R"(version = 1
[default]
action = "deny"
[[rule]]
name = "dns-denied"
action = "deny"
protocol = "udp"
port = [53]
[[rule]]
name = "web-public"
action = "allow"
protocol = "tcp"
address = ["0.0.0.0/0", "::/0"]
port = [80, "3000-3001"]
[[rule]]
name = "private-rewritten"
action = "rewrite"
address = ["10.0.0.0/8", "2001:db8::/32"]
[[rule]]
name = "v6-8080"
action = "allow"
address = ["::/0"]
port = [8080]
[[rule]]
name = "mapped-only"
action = "allow"
address = ["::ffff:192.168.0.0/112"]
)",
          kAnyone);
}

TEST_F(KernelDecide, AuditModeChangesNothing) {
    check(R"(version = 1
mode = "audit"
[[rule]]
name = "deny-dns"
action = "deny"
port = [53]
)",
          kAnyone);
}

TEST_F(KernelDecide, ProgramCommandAndServiceRulesAreResolvedPerProcess) {
    check(R"(version = 1
[[rule]]
name = "proxy"
action = "allow"
program = "/usr/bin/caddy"
port = [80, 443]
[[rule]]
name = "next"
action = "deny"
command = "*next start*"
[[rule]]
name = "api-udp"
action = "allow"
service = "api"
protocol = "udp"
)",
          {{"/usr/bin/caddy", "caddy run", "proxy"},
           {"/usr/bin/node", "node next start -p 3000", "web"},
           {"/usr/bin/node", "node api.js", "api"},
           {"/usr/bin/python3", "python3 -m http.server", ""}});
}

}  // namespace
