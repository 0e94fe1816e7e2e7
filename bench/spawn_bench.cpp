// Start-up and the exec-family pass-through: posix_spawn + waitpid of whole programs.
// The child inherits this process's environment, so in the run with LD_PRELOAD the
// child loads the library too: the difference between the runs is its start-up cost.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench.hpp"

extern char** environ;

namespace bgbench {
namespace {

// A program and its arguments, kept alive for the benchmark's lifetime.
struct Command {
    std::string path;
    std::vector<std::string> args;  // args[0] is the program name

    std::vector<char*> argv() const {
        std::vector<char*> result;
        for (const auto& arg : args) result.push_back(const_cast<char*>(arg.c_str()));
        result.push_back(nullptr);
        return result;
    }
};

// Starts command and waits for it, per iteration. The program must exit 0.
void spawn_and_wait(benchmark::State& state, std::shared_ptr<const Command> command) {
    const std::vector<char*> argv = command->argv();
    for (auto _ : state) {
        pid_t pid = 0;
        const int error = posix_spawn(&pid, command->path.c_str(), nullptr, nullptr, argv.data(), environ);
        if (error != 0) {
            state.SkipWithError(("posix_spawn " + command->path + ": " + std::strerror(error)).c_str());
            break;
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            state.SkipWithError((command->path + " did not exit 0").c_str());
            break;
        }
    }
}

// posix_spawn of a program that does not exist: glibc clones, the exec fails, and
// posix_spawn returns ENOENT. No program starts, so what the library adds here is the
// cost of its exec-family wrapper alone (once issue 6 adds one), not a child's start-up.
void spawn_missing_program(benchmark::State& state) {
    char name[] = "bindguard-bench-missing";
    char* argv[] = {name, nullptr};
    const char* path = "/nonexistent/bindguard-bench-missing";
    for (auto _ : state) {
        pid_t pid = 0;
        const int error = posix_spawn(&pid, path, nullptr, nullptr, argv, environ);
        if (error == 0) {  // an old glibc reports the failure as exit status 127 instead
            int status = 0;
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
        } else if (error != ENOENT) {
            state.SkipWithError(("posix_spawn: " + std::string(std::strerror(error))).c_str());
            break;
        }
    }
}

// The first executable called name in $PATH, or "" when there is none.
std::string find_on_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string candidate = dirs.substr(start, end - start) + "/" + name;
        if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    return "";
}

void register_spawn(const std::string& name, Command command) {
    benchmark::RegisterBenchmark(name.c_str(), spawn_and_wait, std::make_shared<const Command>(std::move(command)))
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
}

// An environment: this process's, without LD_PRELOAD and BINDGUARD_*, plus extra.
struct Environment {
    std::vector<std::string> entries;
    std::vector<char*> pointers;

    explicit Environment(const std::vector<std::string>& extra) {
        for (char** entry = environ; *entry != nullptr; ++entry) {
            const std::string_view text = *entry;
            if (text.rfind("LD_PRELOAD=", 0) == 0 || text.rfind("BINDGUARD_", 0) == 0) continue;
            entries.emplace_back(text);
        }
        entries.insert(entries.end(), extra.begin(), extra.end());
        for (auto& entry : entries) pointers.push_back(entry.data());
        pointers.push_back(nullptr);
    }
};

std::int64_t monotonic_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

// Wall time of one posix_spawn + waitpid of command with envp; -1 when it failed.
std::int64_t timed_spawn(const Command& command, const std::vector<char*>& argv, char* const* envp) {
    const std::int64_t start = monotonic_ns();
    pid_t pid = 0;
    if (posix_spawn(&pid, command.path.c_str(), nullptr, nullptr, argv.data(), envp) != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    return monotonic_ns() - start;
}

// Per iteration: command once with the bare environment and once with the library
// (order flipped every iteration). Counters as in paired_bench.cpp: bare_ns, with_ns
// (mean wall time per start) and ratio; added_ns = with_ns - bare_ns.
void paired_spawn(benchmark::State& state, std::shared_ptr<const Command> command,
                  std::shared_ptr<const Environment> bare, std::shared_ptr<const Environment> with) {
    const std::vector<char*> argv = command->argv();
    std::int64_t bare_ns = 0, with_ns = 0, starts = 0;
    bool flip = false;
    for (auto _ : state) {
        for (int side = 0; side < 2; ++side) {
            const bool preloaded = (side == 0) == flip;
            const std::int64_t spent = timed_spawn(*command, argv, (preloaded ? with : bare)->pointers.data());
            if (spent < 0) {
                state.SkipWithError((command->path + " did not start or exit 0").c_str());
                return;
            }
            (preloaded ? with_ns : bare_ns) += spent;
        }
        flip = !flip;
        ++starts;
    }
    if (starts == 0 || bare_ns == 0) return;
    state.counters["bare_ns"] = static_cast<double>(bare_ns) / static_cast<double>(starts);
    state.counters["with_ns"] = static_cast<double>(with_ns) / static_cast<double>(starts);
    state.counters["added_ns"] = static_cast<double>(with_ns - bare_ns) / static_cast<double>(starts);
    state.counters["ratio"] = static_cast<double>(with_ns) / static_cast<double>(bare_ns);
}

}  // namespace

void register_paired_startup_benchmarks(const std::string& noop_path, const std::string& shim_path,
                                        const std::string& policy_path) {
    const char* own_preload = std::getenv("LD_PRELOAD");
    if (shim_path.empty() || (own_preload != nullptr && *own_preload != '\0')) return;
    std::vector<std::string> extra{"LD_PRELOAD=" + shim_path};
    if (!policy_path.empty()) extra.push_back("BINDGUARD_POLICY=" + policy_path);
    auto bare = std::make_shared<const Environment>(std::vector<std::string>{});
    auto with = std::make_shared<const Environment>(extra);
    auto register_pair = [&](const std::string& name, Command command, std::shared_ptr<const Environment> other) {
        benchmark::RegisterBenchmark(name.c_str(), paired_spawn, std::make_shared<const Command>(std::move(command)),
                                     bare, other)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
    };
    if (access(noop_path.c_str(), X_OK) == 0) {
        register_pair("paired/startup/noop", {noop_path, {"bindguard-bench-noop"}}, with);
        // Both sides bare: what this method calls a difference when there is none.
        register_pair("paired/startup/noop-aa", {noop_path, {"bindguard-bench-noop"}}, bare);
    }
    if (const std::string node = find_on_path("node"); !node.empty())
        register_pair("paired/startup/node-e0", {node, {"node", "-e", "0"}}, with);
}

void register_spawn_benchmarks(const std::string& noop_path) {
    if (access(noop_path.c_str(), X_OK) == 0) {
        register_spawn("startup/noop", {noop_path, {"bindguard-bench-noop"}});
    } else {
        benchmark::RegisterBenchmark("startup/noop", [noop_path](benchmark::State& state) {
            state.SkipWithError(("no executable " + noop_path + " (--bg_noop=PATH)").c_str());
            for (auto _ : state) {
            }
        });
    }
    if (const std::string node = find_on_path("node"); !node.empty())
        register_spawn("startup/node-e0", {node, {"node", "-e", "0"}});
    if (access("/bin/true", X_OK) == 0) register_spawn("pass/posix_spawn-true", {"/bin/true", {"true"}});
    benchmark::RegisterBenchmark("pass/posix_spawn-enoent", spawn_missing_program)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
}

}  // namespace bgbench
