// The kernel twin's cost in one process: blocks of
// socket()+bind()+close() alternate on one thread between cgroups, one with the twin's
// BPF programs attached and two without, so that every side sees the same machine at
// the same moment (the process A/B of `bindguard run --kernel` against a bare run cannot
// tell 1.05 from its own noise on a shared machine).
//
// A socket's cgroup, which decides whether the cgroup BPF bind hooks run for it, is
// taken from the creating task's cgroup when the socket is made. So this process moves
// itself between the cgroups (cgroup.procs) before each block, outside the timed region:
//   bare        the "open" cgroup: nothing attached
//   bare_again  the "open again" cgroup: nothing attached either (the method's A/A)
//   with        the "protected" cgroup: bind4/bind6/sockops of the twin attached, with a
//               policy that rewrites every public bind to loopback
//   pristine    (with --bg_kernel_pins) the "open" cgroup again, with the twin detached
//               from "protected" for the block: with no cgroup bind program attached
//               anywhere on the machine, the kernel skips its cgroup BPF check (a static
//               key) that the open cgroups' sockets otherwise pay too. Detached and
//               attached again outside the timed region; not pristine when something
//               else has a cgroup bind program attached (another installation, a test).
// The sides rotate (order shifted by one every iteration), so every block follows a
// migration. Before each timed block an untimed probe binds 0.0.0.0:0 where the block
// runs and reads getsockname(): 127.0.0.1 in the protected cgroup, 0.0.0.0 in the open
// ones, or the case stops with an error (a broken setup cannot report a fine ratio).
//
// bench/compare makes the cgroups, attaches the twin (`bindguard kernel attach`) and
// removes everything afterwards; it passes the paths with --bg_kernel_cgroups. The
// sides bind through libc's own bind() (looked up in libc.so.6), so a preloaded library
// would not change what is measured. Counters: NAME_ns per side (CPU time of the thread
// per call), ratio = with / bare, aa_ratio = bare_again / bare; with the pristine side
// also pristine_ratio = with / pristine and key_ratio = bare / pristine.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <utility>

#include <benchmark/benchmark.h>

#include "bench.hpp"
#include "bindguard/kernel.hpp"

namespace bgbench {
namespace {

namespace k = bindguard::kernel;

using BindFunction = int (*)(int, const sockaddr*, socklen_t);

// libc's own bind(), or nullptr.
BindFunction libc_bind() {
    static const BindFunction function = [] {
        void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        return libc == nullptr ? nullptr : reinterpret_cast<BindFunction>(dlsym(libc, "bind"));
    }();
    return function;
}

std::int64_t thread_cpu_ns() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// calls x socket(AF_INET, SOCK_STREAM)+bind(address)+close(). Returns false (errno set)
// when a call failed.
bool socket_bind_close_block(BindFunction bind_function, int calls, const sockaddr_in& address) {
    for (int i = 0; i < calls; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return false;
        const int result = bind_function(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        const int saved = errno;
        close(fd);
        errno = saved;
        if (result != 0) return false;
    }
    return true;
}

// Binds a new TCP socket to 0.0.0.0:0 in the calling process's cgroup and returns the
// address the kernel bound it to ("0.0.0.0", or "127.0.0.1" when the twin rewrote it),
// or "error: ..." when a call failed.
std::string probe_wildcard_bind(BindFunction bind_function) {
    const sockaddr_in wildcard = ipv4("0.0.0.0", 0);
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return std::string("error: socket: ") + std::strerror(errno);
    std::string result;
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    if (bind_function(fd, reinterpret_cast<const sockaddr*>(&wildcard), sizeof wildcard) != 0)
        result = std::string("error: bind: ") + std::strerror(errno);
    else if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0)
        result = std::string("error: getsockname: ") + std::strerror(errno);
    else {
        char text[INET_ADDRSTRLEN] = {};
        inet_ntop(AF_INET, &bound.sin_addr, text, sizeof text);
        result = text;
    }
    close(fd);
    return result;
}

// The calling process's cgroup v2 directory (cgroup2 mount + the "0::" line of
// /proc/self/cgroup), or "" when there is none.
std::string own_cgroup() {
    const std::string mount = k::cgroup2_mount();
    if (mount.empty()) return "";
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("0::")) return line.substr(3) == "/" ? mount : mount + line.substr(3);
    return "";
}

// Moves the process back into the cgroup it started the case in, when it goes out of scope.
class ReturnToCgroup {
public:
    explicit ReturnToCgroup(std::string home) : home_(std::move(home)) {}
    ReturnToCgroup(const ReturnToCgroup&) = delete;
    ReturnToCgroup& operator=(const ReturnToCgroup&) = delete;
    ~ReturnToCgroup() {
        try {
            k::join_cgroup(home_);
        } catch (const k::KernelError& error) {
            std::fprintf(stderr, "bindguard-bench: cannot return to %s: %s\n", home_.c_str(), error.what());
        }
    }

private:
    std::string home_;
};

struct KernelCase {
    const KernelCgroups* cgroups;  // .pins: "" for no pristine side
    sockaddr_in bare_address;  // bound in the open cgroups
    sockaddr_in with_address;  // bound in the protected one
};

// One side of a kernel case: where its blocks run and what they bind.
struct Side {
    const char* name;
    const std::string* cgroup;
    const sockaddr_in* address;
    const char* probe_expects;  // what the probe's 0.0.0.0:0 must end on there
    bool detached;              // the twin is detached from "protected" during the block
    std::int64_t spent_ns;
};

// The twin's programs (pinned by `bindguard kernel attach`), for the pristine side:
// detach() before its block and attach() after it. The destructor attaches them again
// if a block ended between the two.
class Detacher {
public:
    Detacher(const std::string& pins, const std::string& protected_cgroup) : protected_(protected_cgroup) {
        std::optional<k::Programs> found = k::Programs::open_pinned(pins);
        if (!found) throw k::KernelError("nothing is pinned under " + pins);
        programs_.emplace(std::move(*found));
    }
    Detacher(const Detacher&) = delete;
    Detacher& operator=(const Detacher&) = delete;
    ~Detacher() {
        try {
            if (detached_) attach();
        } catch (const k::KernelError& error) {
            std::fprintf(stderr, "bindguard-bench: cannot attach the twin to %s again: %s\n", protected_.c_str(),
                         error.what());
        }
    }
    // Returns "" or what failed.
    std::string detach() {
        if (!programs_->detach(protected_)) return "cannot detach the twin from " + protected_;
        detached_ = true;
        return "";
    }
    // Throws KernelError.
    void attach() {
        programs_->attach(protected_);
        detached_ = false;
    }

private:
    std::string protected_;
    std::optional<k::Programs> programs_;
    bool detached_ = false;
};

// Moves into side's cgroup and probes it. Returns "" or what is wrong.
std::string enter(const Side& side, BindFunction bind_function) {
    try {
        k::join_cgroup(*side.cgroup);
    } catch (const k::KernelError& error) {
        return std::string(side.name) + ": " + error.what();
    }
    const std::string bound = probe_wildcard_bind(bind_function);
    if (bound == side.probe_expects) return "";
    return std::string(side.name) + ": in " + *side.cgroup + " a bind of 0.0.0.0:0 ended on " + bound + ", not " +
           side.probe_expects +
           (side.probe_expects[0] == '1' ? " (the kernel twin is not attached there)" : " (something rewrites there)");
}

// Attaches the twin again after the pristine side's block. Returns "" or what failed.
std::string attach_again(Detacher& detacher) {
    try {
        detacher.attach();
    } catch (const k::KernelError& error) {
        return std::string("pristine: ") + error.what();
    }
    return "";
}

void kernel_paired(benchmark::State& state, KernelCase c) {
    const BindFunction bind_function = libc_bind();
    if (bind_function == nullptr) {
        state.SkipWithError("libc.so.6's own bind not found");
        return;
    }
    const std::string home = own_cgroup();
    if (home.empty()) {
        state.SkipWithError("this process has no cgroup v2 path (/proc/self/cgroup, /proc/self/mountinfo)");
        return;
    }
    ReturnToCgroup back(home);
    std::optional<Detacher> detacher;
    if (!c.cgroups->pins.empty()) {
        try {
            detacher.emplace(c.cgroups->pins, c.cgroups->protected_cgroup);
        } catch (const k::KernelError& error) {
            state.SkipWithError((std::string("pristine: ") + error.what()).c_str());
            return;
        }
    }
    Side sides[] = {{"bare", &c.cgroups->open, &c.bare_address, "0.0.0.0", false, 0},
                    {"bare_again", &c.cgroups->open_again, &c.bare_address, "0.0.0.0", false, 0},
                    {"with", &c.cgroups->protected_cgroup, &c.with_address, "127.0.0.1", false, 0},
                    {"pristine", &c.cgroups->open, &c.bare_address, "0.0.0.0", true, 0}};
    const std::size_t kSides = detacher ? 4 : 3;
    // Blocks of about 100-300 µs: long against the clock reads and the migration before
    // each, short against changes of the machine's load.
    constexpr int kCalls = 32;
    for (std::size_t i = 0; i < kSides; ++i) {  // one untimed block per side: warm caches, first-use costs
        const Side& side = sides[i];
        std::string problem = side.detached ? detacher->detach() : "";
        if (problem.empty()) problem = enter(side, bind_function);
        if (problem.empty() && !socket_bind_close_block(bind_function, kCalls, *side.address))
            problem = std::string(side.name) + ": call failed: " + std::strerror(errno);
        if (side.detached && problem.empty()) problem = attach_again(*detacher);
        if (!problem.empty()) {
            state.SkipWithError(problem.c_str());
            return;
        }
    }
    std::int64_t iterations = 0;
    for (auto _ : state) {
        for (std::size_t step = 0; step < kSides; ++step) {
            Side& side = sides[(static_cast<std::size_t>(iterations) + step) % kSides];
            std::string problem = side.detached ? detacher->detach() : "";
            if (problem.empty()) problem = enter(side, bind_function);
            if (!problem.empty()) {
                state.SkipWithError(problem.c_str());
                return;
            }
            const std::int64_t start = thread_cpu_ns();
            if (!socket_bind_close_block(bind_function, kCalls, *side.address)) {
                state.SkipWithError((std::string(side.name) + ": call failed: " + std::strerror(errno)).c_str());
                return;
            }
            side.spent_ns += thread_cpu_ns() - start;
            if (side.detached) {
                if (const std::string again = attach_again(*detacher); !again.empty()) {
                    state.SkipWithError(again.c_str());
                    return;
                }
            }
        }
        ++iterations;
    }
    if (iterations == 0 || sides[0].spent_ns == 0) return;
    const double calls = static_cast<double>(iterations) * kCalls;
    for (std::size_t i = 0; i < kSides; ++i)
        state.counters[std::string(sides[i].name) + "_ns"] = static_cast<double>(sides[i].spent_ns) / calls;
    const auto bare_ns = static_cast<double>(sides[0].spent_ns);
    state.counters["aa_ratio"] = static_cast<double>(sides[1].spent_ns) / bare_ns;
    state.counters["ratio"] = static_cast<double>(sides[2].spent_ns) / bare_ns;
    if (kSides == 4 && sides[3].spent_ns > 0) {
        const auto pristine_ns = static_cast<double>(sides[3].spent_ns);
        state.counters["pristine_ratio"] = static_cast<double>(sides[2].spent_ns) / pristine_ns;
        state.counters["key_ratio"] = bare_ns / pristine_ns;
    }
}

void needs_private_netns(benchmark::State& state) {
    state.SkipWithError("binds 0.0.0.0 in the open cgroups: run with --bg_netns (needs CAP_SYS_ADMIN)");
}

const char* const kCaseNames[] = {"paired/kernel/socket-bind-close/loopback", "paired/kernel/socket-bind-close/wildcard",
                                  "paired/kernel/socket-bind-close/wildcard-port",
                                  "paired/kernel/rewrite-floor/wildcard-port", "paired/kernel/rewrite-floor/wildcard"};

}  // namespace

bool parse_kernel_cgroups(const std::string& text, KernelCgroups& cgroups) {
    const auto first = text.find(',');
    const auto second = first == std::string::npos ? std::string::npos : text.find(',', first + 1);
    if (second == std::string::npos || text.find(',', second + 1) != std::string::npos) return false;
    cgroups.protected_cgroup = text.substr(0, first);
    cgroups.open = text.substr(first + 1, second - first - 1);
    cgroups.open_again = text.substr(second + 1);
    return !cgroups.protected_cgroup.empty() && !cgroups.open.empty() && !cgroups.open_again.empty();
}

void register_kernel_paired_benchmarks(bool in_private_netns, const KernelCgroups* cgroups) {
    if (!in_private_netns) {
        for (const char* name : kCaseNames) benchmark::RegisterBenchmark(name, needs_private_netns);
        return;
    }
    // Fixed ports of their own (see calls_bench.cpp: below ip_local_port_range), in the
    // private namespace: bound and closed at once, never listening.
    constexpr std::uint16_t kWildcardPort = 20005, kFloorPort = 20006;
    const sockaddr_in loopback = ipv4("127.0.0.1", 0), wildcard = ipv4("0.0.0.0", 0);
    // The twin's cost for a bind it leaves alone.
    benchmark::RegisterBenchmark(kCaseNames[0], kernel_paired, KernelCase{cgroups, loopback, loopback});
    // A rewritten bind against the same bind left alone: the twin plus the kernel's own
    // extra cost of binding 127.0.0.1 instead of 0.0.0.0.
    benchmark::RegisterBenchmark(kCaseNames[1], kernel_paired, KernelCase{cgroups, wildcard, wildcard});
    benchmark::RegisterBenchmark(kCaseNames[2], kernel_paired,
                                 KernelCase{cgroups, ipv4("0.0.0.0", kWildcardPort), ipv4("0.0.0.0", kWildcardPort)});
    // The rewritten 0.0.0.0:P against a bare bind of what it becomes, 127.0.0.1:P: the
    // twin's own cost, without the kernel's charge for the loopback address.
    benchmark::RegisterBenchmark(kCaseNames[3], kernel_paired,
                                 KernelCase{cgroups, ipv4("127.0.0.1", kFloorPort), ipv4("0.0.0.0", kFloorPort)});
    // The same for port 0, where the kernel's search for a free port costs more on
    // 127.0.0.1 than on 0.0.0.0 (paired/kernel-floor/bind-127.0.0.1-vs-0.0.0.0).
    benchmark::RegisterBenchmark(kCaseNames[4], kernel_paired, KernelCase{cgroups, loopback, wildcard});
}

}  // namespace bgbench
