// bindguard-bench: Google Benchmark binary of the harness. Run it through
// bench/compare, which runs it bare and with LD_PRELOAD=libbindguard.so alternately.
//
// Own options (taken out before Google Benchmark sees the command line):
//   --bg_netns       run in a new network namespace with only `lo` (needs root); the
//                    cases that bind a wildcard address only run there
//   --bg_noop=PATH   the do-nothing program for startup/noop (default: next to this binary)
//   --bg_shim=PATH   libbindguard.so for the paired start-up cases (children started with
//                    and without LD_PRELOAD=PATH, alternating; with the built-in policy)
//   --bg_kernel_cgroups=PROTECTED,OPEN,OPEN_AGAIN
//                    cgroup v2 directories for the paired/kernel/... cases: the kernel
//                    twin attached to PROTECTED, nothing to the other two (bench/compare
//                    --kernel makes them); without it those cases are not registered
//   --bg_kernel_pins=DIR  where the twin's programs are pinned (/sys/fs/bpf/NAME): adds the
//                    pristine side to those cases (the twin detached during its blocks)
// Every --benchmark_* option of Google Benchmark works as usual.
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench.hpp"

namespace {

struct HarnessOptions {
    bool private_netns = false;
    std::string noop_path;
    std::string shim_path;    // empty: no paired start-up cases
    std::string empty_path;     // the empty preload library ("": no third start-up side)
    std::string rewriter_path;  // the reference rewriter ("": no rewrite-floor case)
    std::string kernel_cgroups;  // --bg_kernel_cgroups ("": no paired/kernel/ cases)
    std::string kernel_pins;     // --bg_kernel_pins ("": no pristine side)
};

// The directory of this executable, from /proc/self/exe; "." when unknown.
std::string own_directory() {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    std::string path(buf, static_cast<std::size_t>(n));
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Removes the harness's own options from argv (argc updated) and returns them.
HarnessOptions take_harness_options(int& argc, char** argv) {
    HarnessOptions options;
    options.noop_path = own_directory() + "/bindguard-bench-noop";
    options.empty_path = BINDGUARD_BENCH_LIB_DIR "/libbindguard-bench-empty.so";
    options.rewriter_path = BINDGUARD_BENCH_LIB_DIR "/libbindguard-bench-rewriter.so";
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--bg_netns") {
            options.private_netns = true;
        } else if (arg.rfind("--bg_noop=", 0) == 0) {
            options.noop_path = std::string(arg.substr(std::strlen("--bg_noop=")));
        } else if (arg.rfind("--bg_shim=", 0) == 0) {
            options.shim_path = std::string(arg.substr(std::strlen("--bg_shim=")));
        } else if (arg.rfind("--bg_empty=", 0) == 0) {
            options.empty_path = std::string(arg.substr(std::strlen("--bg_empty=")));
        } else if (arg.rfind("--bg_rewriter=", 0) == 0) {
            options.rewriter_path = std::string(arg.substr(std::strlen("--bg_rewriter=")));
        } else if (arg.rfind("--bg_kernel_pins=", 0) == 0) {
            options.kernel_pins = std::string(arg.substr(std::strlen("--bg_kernel_pins=")));
        } else if (arg.rfind("--bg_kernel_cgroups=", 0) == 0) {
            options.kernel_cgroups = std::string(arg.substr(std::strlen("--bg_kernel_cgroups=")));
        } else {
            argv[kept++] = argv[i];
        }
    }
    argv[kept] = nullptr;
    argc = kept;
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    const HarnessOptions options = take_harness_options(argc, argv);
    bgbench::KernelCgroups kernel_cgroups;
    if (!options.kernel_cgroups.empty() && !bgbench::parse_kernel_cgroups(options.kernel_cgroups, kernel_cgroups)) {
        std::fprintf(stderr, "bindguard-bench: --bg_kernel_cgroups=%s: expected PROTECTED,OPEN,OPEN_AGAIN (three cgroup paths)\n",
                     options.kernel_cgroups.c_str());
        return 2;
    }
    kernel_cgroups.pins = options.kernel_pins;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;

    bool in_private_netns = false;
    if (options.private_netns) {
        std::string error;
        in_private_netns = bgbench::enter_private_netns(error);
        if (!in_private_netns) std::fprintf(stderr, "bindguard-bench: no private network namespace: %s\n", error.c_str());
    }

    const char* preload = std::getenv("LD_PRELOAD");
    const char* policy = std::getenv("BINDGUARD_POLICY");
    benchmark::AddCustomContext("ld_preload", preload ? preload : "");
    benchmark::AddCustomContext("bindguard_policy", policy ? policy : "");
    benchmark::AddCustomContext("private_netns", in_private_netns ? "yes" : "no");

    bgbench::register_decide_benchmarks();
    bgbench::register_call_benchmarks(in_private_netns);
    bgbench::register_spawn_benchmarks(options.noop_path);
    bgbench::register_paired_benchmarks(in_private_netns, options.rewriter_path);
    bgbench::register_paired_startup_benchmarks(options.noop_path, options.shim_path,
                                                options.empty_path);
    if (!options.kernel_cgroups.empty()) bgbench::register_kernel_paired_benchmarks(in_private_netns, &kernel_cgroups);

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
