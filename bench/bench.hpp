// bindguard-bench: what each part registers. The benchmarks are registered at run time
// (benchmark::RegisterBenchmark) because the policies and the programs they use are
// found or generated when the binary starts.
//
// Naming, which bench/compare relies on:
//   decide/...   decide() alone, no system call (compare takes its ratio to call/bind-ebadf)
//   call/...     real calls that the library interposes (bind, listen)
//   pass/...     calls the library passes through (syscall(), posix_spawn)
//   threads/...  the loopback bind loop in 1, 2 and 4 threads
//   startup/...  posix_spawn + waitpid of a whole program
//   paired/...   in-process: linked symbol vs libc's own, alternating (counters);
//                paired/kernel/...: cgroups with and without the kernel twin, alternating
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

namespace bgbench {

// An IPv4 socket address (inet_pton of address, port in host order).
sockaddr_in ipv4(const char* address, std::uint16_t port);

// decide() with the built-in policy, the Doable example policy and generated policies
// of 10, 100 and 1000 rules. Exits the process with a message when a policy that the
// harness itself generates fails to parse or decides differently than expected.
void register_decide_benchmarks();

// socket()+bind()+close(), the failing bind(), listen() on an unbound socket, syscall().
// The cases that bind a wildcard address (bare, or auto-bound by listen()) only run in a
// private network namespace; without one they are registered as skipped, with the reason.
void register_call_benchmarks(bool in_private_netns);

// The same calls through the linked symbol and through libc's own definition, in
// alternating blocks in one thread: the library's cost per call, robust to load. With
// rewriter_path (the reference rewriter, dlopen()ed; "" or missing: left out), the
// rewritten bind of 0.0.0.0:P is also set against its floors (paired/rewrite-floor/...).
void register_paired_benchmarks(bool in_private_netns, const std::string& rewriter_path);

// Start-up: posix_spawn + waitpid of noop_path and of `node -e 0` (when node is on PATH),
// and the posix_spawn pass-through with a clean environment.
void register_spawn_benchmarks(const std::string& noop_path);

// N rules, each allowing TCP on ports 8000-8999 of its own 10.x.y.0/24 (decide_bench.cpp).
std::string generated_policy(int rules);

// Start-up side by side: the same program spawned from this (bare) process without
// LD_PRELOAD, with LD_PRELOAD=empty_path (an empty library: the floor of any preload
// library; left out when empty_path is "" or missing) and with LD_PRELOAD=shim_path,
// in rotating order, real time per spawn + wait. bindguard runs with its built-in
// policy, as a shell safety net starts every command. Registered only when shim_path is given
// and this process is not itself preloaded (a preloaded parent's posix_spawn would put
// the library back into the "bare" child's environment).
void register_paired_startup_benchmarks(const std::string& noop_path, const std::string& shim_path,
                                        const std::string& empty_path);

// The cgroups of the paired kernel-twin cases (bench/compare makes them): the twin
// attached to protected_cgroup, nothing to open and open_again; pins: the directory its
// programs are pinned in (--bg_kernel_pins; "": no pristine side, see kernel_paired_bench.cpp).
struct KernelCgroups {
    std::string protected_cgroup;
    std::string open;
    std::string open_again;
    std::string pins;
};
// Parses "PROTECTED,OPEN,OPEN_AGAIN" (--bg_kernel_cgroups). Returns false when it is not three paths.
bool parse_kernel_cgroups(const std::string& text, KernelCgroups& cgroups);

// The kernel twin's cost in one thread (paired/kernel/...): socket+bind+close blocks
// alternating between the open cgroups and the protected one (kernel_paired_bench.cpp).
// cgroups must outlive the run. Without a private network namespace the cases are
// registered as skipped, with the reason.
void register_kernel_paired_benchmarks(bool in_private_netns, const KernelCgroups* cgroups);

// Moves the calling thread (call it before any other thread exists) into a new network
// namespace with only `lo`, brought up. Returns false and sets error when that fails.
bool enter_private_netns(std::string& error);

}  // namespace bgbench
