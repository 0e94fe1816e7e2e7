// In-process paired measurement: the same call through the symbol the program links to
// (the library's wrapper when it is preloaded) and through libc's own definition (looked
// up in libc.so.6 itself, so the wrapper is skipped), alternating in short blocks on one
// thread. Both sides see the same machine at the same moment, so the ratio survives the
// load of a shared machine far better than comparing two processes run one after the
// other. In a run without the library both sides are libc: the ratio is then the
// method's own noise (ideally 1).
//
// Counters per case: bare_ns and with_ns (CPU time of the thread per call, averaged
// over the run) and ratio = with_ns / bare_ns. The case's own time is meaningless.
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <benchmark/benchmark.h>

#include "bench.hpp"

extern char** environ;

namespace bgbench {
namespace {

using BindFunction = int (*)(int, const sockaddr*, socklen_t);
using ListenFunction = int (*)(int, int);
using SyscallFunction = long (*)(long, ...);
using SpawnFunction = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                              char* const*, char* const*);

// libc's own definitions, or nullptr.
struct LibcFunctions {
    BindFunction bind = nullptr;
    ListenFunction listen = nullptr;
    SyscallFunction syscall = nullptr;
    SpawnFunction posix_spawn = nullptr;
};

const LibcFunctions& libc_functions() {
    static const LibcFunctions functions = [] {
        LibcFunctions f;
        void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        if (libc == nullptr) return f;
        f.bind = reinterpret_cast<BindFunction>(dlsym(libc, "bind"));
        f.listen = reinterpret_cast<ListenFunction>(dlsym(libc, "listen"));
        f.syscall = reinterpret_cast<SyscallFunction>(dlsym(libc, "syscall"));
        f.posix_spawn = reinterpret_cast<SpawnFunction>(dlsym(libc, "posix_spawn"));
        return f;
    }();
    return functions;
}

// The routes a case is run through: the linked symbols, or libc's.
struct Route {
    BindFunction bind;
    ListenFunction listen;
    SyscallFunction syscall;
    SpawnFunction posix_spawn;
};

std::int64_t thread_cpu_ns() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// One block of calls of a case through route; false (with errno) when a call failed.
using Block = bool (*)(const Route& route, int calls, const sockaddr_in& address);

bool socket_bind_close_block(const Route& route, int calls, const sockaddr_in& address) {
    for (int i = 0; i < calls; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return false;
        const int result = route.bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        const int saved = errno;
        close(fd);
        errno = saved;
        if (result != 0) return false;
    }
    return true;
}

bool bind_bad_fd_block(const Route& route, int calls, const sockaddr_in& address) {
    for (int i = 0; i < calls; ++i) {
        int result = route.bind(-1, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        benchmark::DoNotOptimize(result);
    }
    return true;
}

bool socket_listen_close_block(const Route& route, int calls, const sockaddr_in&) {
    for (int i = 0; i < calls; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return false;
        const int result = route.listen(fd, 16);
        const int saved = errno;
        close(fd);
        errno = saved;
        if (result != 0) return false;
    }
    return true;
}

// posix_spawn of a program that does not exist: clone, a failed exec, ENOENT. No child
// program runs, so the difference is the exec-family wrapper's own work.
bool spawn_missing_block(const Route& route, int calls, const sockaddr_in&) {
    char name[] = "bindguard-bench-missing";
    char* argv[] = {name, nullptr};
    for (int i = 0; i < calls; ++i) {
        pid_t pid = 0;
        const int error = route.posix_spawn(&pid, "/nonexistent/bindguard-bench-missing", nullptr, nullptr, argv, environ);
        if (error == 0) {  // an old glibc reports the failure as exit status 127 instead
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        } else if (error != ENOENT) {
            errno = error;
            return false;
        }
    }
    return true;
}

bool syscall_getpid_block(const Route& route, int calls, const sockaddr_in&) {
    for (int i = 0; i < calls; ++i) {
        long result = route.syscall(SYS_getpid);
        benchmark::DoNotOptimize(result);
    }
    return true;
}

// Runs block through both routes per iteration (order flipped every iteration) and
// reports the per-call CPU times and their ratio.
void paired(benchmark::State& state, Block block, int calls, sockaddr_in address) {
    const LibcFunctions& libc = libc_functions();
    if (libc.bind == nullptr || libc.listen == nullptr || libc.syscall == nullptr || libc.posix_spawn == nullptr) {
        state.SkipWithError("libc.so.6's own bind/listen/syscall/posix_spawn not found");
        return;
    }
    const Route linked{&::bind, &::listen, &::syscall, &::posix_spawn};
    const Route bare{libc.bind, libc.listen, libc.syscall, libc.posix_spawn};
    std::int64_t bare_ns = 0, with_ns = 0, total_calls = 0;
    bool flip = false;
    for (auto _ : state) {
        const Route* order[2] = {&bare, &linked};
        if (flip) std::swap(order[0], order[1]);
        flip = !flip;
        for (const Route* route : order) {
            const std::int64_t start = thread_cpu_ns();
            const bool ok = block(*route, calls, address);
            const std::int64_t spent = thread_cpu_ns() - start;
            if (!ok) {
                state.SkipWithError((std::string("call failed: ") + std::strerror(errno)).c_str());
                return;
            }
            (route == &bare ? bare_ns : with_ns) += spent;
        }
        total_calls += calls;
    }
    if (total_calls == 0 || bare_ns == 0) return;
    state.counters["bare_ns"] = static_cast<double>(bare_ns) / static_cast<double>(total_calls);
    state.counters["with_ns"] = static_cast<double>(with_ns) / static_cast<double>(total_calls);
    state.counters["ratio"] = static_cast<double>(with_ns) / static_cast<double>(bare_ns);
}

// The kernel's own share of a rewrite: libc's bind() to 0.0.0.0:P ("bare") against
// libc's bind() to 127.0.0.1:P ("with"), alternating like the pairs above. A rewritten
// bind cannot cost less than this ratio: it is the kernel binding the address asked for.
void kernel_loopback_vs_wildcard(benchmark::State& state, std::uint16_t port) {
    const LibcFunctions& libc = libc_functions();
    if (libc.bind == nullptr) {
        state.SkipWithError("libc.so.6's own bind not found");
        return;
    }
    const Route route{libc.bind, libc.listen, libc.syscall, libc.posix_spawn};
    const sockaddr_in wildcard = ipv4("0.0.0.0", port), loopback = ipv4("127.0.0.1", port);
    constexpr int kCalls = 32;
    std::int64_t wildcard_ns = 0, loopback_ns = 0, total_calls = 0;
    bool flip = false;
    for (auto _ : state) {
        for (int side = 0; side < 2; ++side) {
            const bool to_loopback = (side == 0) == flip;
            const std::int64_t start = thread_cpu_ns();
            if (!socket_bind_close_block(route, kCalls, to_loopback ? loopback : wildcard)) {
                state.SkipWithError((std::string("call failed: ") + std::strerror(errno)).c_str());
                return;
            }
            (to_loopback ? loopback_ns : wildcard_ns) += thread_cpu_ns() - start;
        }
        flip = !flip;
        total_calls += kCalls;
    }
    if (total_calls == 0 || wildcard_ns == 0) return;
    state.counters["bare_ns"] = static_cast<double>(wildcard_ns) / static_cast<double>(total_calls);
    state.counters["with_ns"] = static_cast<double>(loopback_ns) / static_cast<double>(total_calls);
    state.counters["ratio"] = static_cast<double>(loopback_ns) / static_cast<double>(wildcard_ns);
}

// The reference rewriter's bind() (reference_rewriter.c), dlopen()ed once; nullptr when
// the library is not there or has no bind.
BindFunction reference_bind(const std::string& path) {
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    return library == nullptr ? nullptr : reinterpret_cast<BindFunction>(dlsym(library, "bind"));
}

// The rewrite floor: the rewritten socket+bind+close of 0.0.0.0:port against its floors,
// in blocks rotating on one thread (order shifted by one every iteration):
//   loopback        libc's bind() of 127.0.0.1:port (what a rewrite asks the kernel for)
//   loopback_again  the same once more: the method's A/A
//   reference       the reference rewriter's bind() of 0.0.0.0:port (dlopen()ed)
//   with            the linked bind() of 0.0.0.0:port (bindguard's wrapper when preloaded;
//                   libc's, i.e. no rewrite, in a bare run)
// Counters: NAME_ns per side (CPU time per call) and ratio = with / loopback (target:
// at most 1.01), reference_ratio = reference / loopback, vs_reference = with /
// reference, aa_ratio = loopback_again / loopback.
void rewrite_floor(benchmark::State& state, BindFunction reference, std::uint16_t port) {
    const LibcFunctions& libc = libc_functions();
    if (libc.bind == nullptr || reference == nullptr) {
        state.SkipWithError("libc.so.6's own bind or the reference rewriter's not found");
        return;
    }
    const Route bare{libc.bind, libc.listen, libc.syscall, libc.posix_spawn};
    const Route rewriter{reference, libc.listen, libc.syscall, libc.posix_spawn};
    const Route linked{&::bind, &::listen, &::syscall, &::posix_spawn};
    const sockaddr_in wildcard = ipv4("0.0.0.0", port), loopback = ipv4("127.0.0.1", port);
    struct Side {
        const char* name;
        const Route* route;
        const sockaddr_in* address;
        std::int64_t spent_ns;
    };
    Side sides[] = {{"loopback", &bare, &loopback, 0},
                    {"loopback_again", &bare, &loopback, 0},
                    {"reference", &rewriter, &wildcard, 0},
                    {"with", &linked, &wildcard, 0}};
    constexpr std::size_t kSides = sizeof sides / sizeof sides[0];
    constexpr int kCalls = 32;
    for (const Side& side : sides) {  // one untimed block per side: warm caches, first-use costs
        if (!socket_bind_close_block(*side.route, kCalls, *side.address)) {
            state.SkipWithError((std::string(side.name) + ": call failed: " + std::strerror(errno)).c_str());
            return;
        }
    }
    std::int64_t iterations = 0;
    for (auto _ : state) {
        for (std::size_t step = 0; step < kSides; ++step) {
            Side& side = sides[(static_cast<std::size_t>(iterations) + step) % kSides];
            const std::int64_t start = thread_cpu_ns();
            if (!socket_bind_close_block(*side.route, kCalls, *side.address)) {
                state.SkipWithError((std::string(side.name) + ": call failed: " + std::strerror(errno)).c_str());
                return;
            }
            side.spent_ns += thread_cpu_ns() - start;
        }
        ++iterations;
    }
    if (iterations == 0 || sides[0].spent_ns == 0 || sides[2].spent_ns == 0) return;
    const double calls = static_cast<double>(iterations) * kCalls;
    for (const Side& side : sides) state.counters[std::string(side.name) + "_ns"] = static_cast<double>(side.spent_ns) / calls;
    const auto loopback_ns = static_cast<double>(sides[0].spent_ns);
    state.counters["aa_ratio"] = static_cast<double>(sides[1].spent_ns) / loopback_ns;
    state.counters["reference_ratio"] = static_cast<double>(sides[2].spent_ns) / loopback_ns;
    state.counters["ratio"] = static_cast<double>(sides[3].spent_ns) / loopback_ns;
    state.counters["vs_reference"] = static_cast<double>(sides[3].spent_ns) / static_cast<double>(sides[2].spent_ns);
}

}  // namespace

void register_paired_benchmarks(bool in_private_netns, const std::string& rewriter_path) {
    // Blocks of about 100-300 µs: long against the clock reads, short against load changes.
    benchmark::RegisterBenchmark("paired/socket-bind-close/loopback", paired, socket_bind_close_block, 32,
                                 ipv4("127.0.0.1", 0));
    if (in_private_netns) {
        benchmark::RegisterBenchmark("paired/socket-bind-close/wildcard", paired, socket_bind_close_block, 32,
                                     ipv4("0.0.0.0", 0));
        benchmark::RegisterBenchmark("paired/socket-bind-close/wildcard-port", paired, socket_bind_close_block, 32,
                                     ipv4("0.0.0.0", 20002));
        benchmark::RegisterBenchmark("paired/kernel-floor/bind-127.0.0.1-vs-0.0.0.0", kernel_loopback_vs_wildcard,
                                     std::uint16_t{0});
        benchmark::RegisterBenchmark("paired/kernel-floor/bind-127.0.0.1-vs-0.0.0.0-port", kernel_loopback_vs_wildcard,
                                     std::uint16_t{20003});
        if (BindFunction reference = rewriter_path.empty() ? nullptr : reference_bind(rewriter_path))
            benchmark::RegisterBenchmark("paired/rewrite-floor/wildcard-port", rewrite_floor, reference,
                                         std::uint16_t{20004});
        benchmark::RegisterBenchmark("paired/socket-listen-close/unbound", paired, socket_listen_close_block, 32,
                                     ipv4("0.0.0.0", 0));
    }
    benchmark::RegisterBenchmark("paired/bind-ebadf", paired, bind_bad_fd_block, 1000, ipv4("127.0.0.1", 0));
    benchmark::RegisterBenchmark("paired/syscall-getpid", paired, syscall_getpid_block, 1000, ipv4("127.0.0.1", 0));
    benchmark::RegisterBenchmark("paired/posix_spawn-enoent", paired, spawn_missing_block, 4, ipv4("127.0.0.1", 0));
}

}  // namespace bgbench
