// The real calls, timed in this process. bench/compare runs this binary bare and with
// LD_PRELOAD=libbindguard.so; the code here is the same in both runs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <benchmark/benchmark.h>

#include "bench.hpp"

namespace bgbench {

sockaddr_in ipv4(const char* address, std::uint16_t port) {
    sockaddr_in result{};
    result.sin_family = AF_INET;
    result.sin_port = htons(port);
    inet_pton(AF_INET, address, &result.sin_addr);
    return result;
}

namespace {

// The fixed port of call/socket-bind-close/wildcard-port. Bound and closed again at once
// (never listening, never connected: nothing lingers), in a namespace of our own. Fixed
// ports are kept below ip_local_port_range (32768-60999), where the port-0 cases'
// sockets take theirs.
constexpr std::uint16_t kFixedPort = 20001;

std::string failure(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// socket(AF_INET, SOCK_STREAM) + bind(address) + close(), per iteration.
void socket_bind_close(benchmark::State& state, const sockaddr_in address) {
    for (auto _ : state) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            state.SkipWithError(failure("socket").c_str());
            break;
        }
        if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            state.SkipWithError(failure("bind").c_str());
            close(fd);
            break;
        }
        close(fd);
    }
}

// bind() on a file descriptor that is not open: the cheapest path through bind(), one
// system call that fails with EBADF. Without the library this is the reference that
// decide() is compared to; with it, it shows the library's share at its most visible.
void bind_bad_fd(benchmark::State& state) {
    const sockaddr_in address = ipv4("127.0.0.1", 0);
    const auto* raw = reinterpret_cast<const sockaddr*>(&address);
    if (bind(-1, raw, sizeof address) != -1 || errno != EBADF) {
        state.SkipWithError("bind(-1) did not fail with EBADF");
        return;
    }
    for (auto _ : state) {
        int result = bind(-1, raw, sizeof address);
        benchmark::DoNotOptimize(result);
    }
}

// socket() + listen() on the unbound socket + close(). The kernel binds it to the
// wildcard address; the library binds it to loopback first.
void socket_listen_close(benchmark::State& state) {
    for (auto _ : state) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            state.SkipWithError(failure("socket").c_str());
            break;
        }
        if (listen(fd, 16) != 0) {
            state.SkipWithError(failure("listen").c_str());
            close(fd);
            break;
        }
        close(fd);
    }
}

// syscall(SYS_getpid): a system call number the library forwards unchanged.
void syscall_getpid(benchmark::State& state) {
    for (auto _ : state) {
        long result = syscall(SYS_getpid);
        benchmark::DoNotOptimize(result);
    }
}

void needs_private_netns(benchmark::State& state) {
    state.SkipWithError("binds a wildcard address: run with --bg_netns (needs CAP_SYS_ADMIN)");
    for (auto _ : state) {
    }
}

}  // namespace

void register_call_benchmarks(bool in_private_netns) {
    benchmark::RegisterBenchmark("call/socket-bind-close/loopback", socket_bind_close, ipv4("127.0.0.1", 0));
    if (in_private_netns) {
        // Port 0 (the kernel picks one), the harder case for the library: a wildcard
        // bind to port 0 may be a UDP client socket (udp_ephemeral), so the socket's
        // type matters. A fixed port, as a server binds: the address alone decides.
        benchmark::RegisterBenchmark("call/socket-bind-close/wildcard", socket_bind_close, ipv4("0.0.0.0", 0));
        benchmark::RegisterBenchmark("call/socket-bind-close/wildcard-port", socket_bind_close,
                                     ipv4("0.0.0.0", kFixedPort));
        benchmark::RegisterBenchmark("call/socket-listen-close/unbound", socket_listen_close);
    } else {
        benchmark::RegisterBenchmark("call/socket-bind-close/wildcard", needs_private_netns);
        benchmark::RegisterBenchmark("call/socket-bind-close/wildcard-port", needs_private_netns);
        benchmark::RegisterBenchmark("call/socket-listen-close/unbound", needs_private_netns);
    }
    benchmark::RegisterBenchmark("call/bind-ebadf", bind_bad_fd);
    benchmark::RegisterBenchmark("pass/syscall-getpid", syscall_getpid);
    // No shared lock in the library: with it, this should scale like the bare calls.
    benchmark::RegisterBenchmark("threads/socket-bind-close/loopback", socket_bind_close, ipv4("127.0.0.1", 0))
        ->Threads(1)
        ->Threads(2)
        ->Threads(4)
        ->UseRealTime();
}

}  // namespace bgbench
