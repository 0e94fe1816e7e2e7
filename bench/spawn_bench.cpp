// Start-up and the exec-family pass-through: posix_spawn + waitpid of whole programs.
// The child inherits this process's environment, so in the run with LD_PRELOAD the
// child loads the library too: the difference between the runs is its start-up cost.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
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

}  // namespace

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
