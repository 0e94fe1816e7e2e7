// Start-up and the exec-family pass-through: posix_spawn + waitpid of whole programs.
// The child inherits this process's environment, so in the run with LD_PRELOAD the
// child loads the library too: the difference between the runs is its start-up cost.
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench.hpp"
#include "bindguard/compile.hpp"

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
// cost of its exec-family wrapper alone (once there is one), not a child's start-up.
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

// One side of a paired start-up: a name (its counter is NAME_ns) and the environment
// the child gets.
struct Side {
    std::string name;
    std::shared_ptr<const Environment> environment;
};

// The median of values (not empty); values is reordered.
double median_of(std::vector<std::int64_t>& values) {
    const std::size_t middle = values.size() / 2;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle), values.end());
    const auto upper = static_cast<double>(values[middle]);
    if (values.size() % 2 == 1) return upper;
    const auto lower = static_cast<double>(*std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(middle)));
    return (lower + upper) / 2;
}

// Per iteration: command once with each side's environment, the order rotating by one
// every iteration (A B C, B C A, C A B, ...), so that no side always goes first.
// Medians, not means: on a shared machine a few starts take many times the others, and
// a mean follows them. Counters: NAME_ns, the median wall time per start of each side;
// with a "bare" and a "with" side, as in paired_bench.cpp, ratio = with_ns / bare_ns and
// added_ns = the median over iterations of (with - bare) of the same iteration; with an
// "empty" side (the empty preload library), empty_added_ns likewise and floor_ratio =
// added_ns / empty_added_ns (the target: at most 1.5). A side "empty_again" (the empty
// library once more) replaces "with" in floor_ratio: the method's A/A of it.
void paired_spawn(benchmark::State& state, std::shared_ptr<const Command> command,
                  std::shared_ptr<const std::vector<Side>> sides) {
    const std::vector<char*> argv = command->argv();
    const std::size_t count = sides->size();
    std::vector<std::vector<std::int64_t>> spent_ns(count);  // per side, per iteration
    // One untimed start per side first: the first start of a run costs many times the
    // others (page cache, the parent's first posix_spawn) and would always fall on side 0.
    for (const Side& side : *sides) {
        if (timed_spawn(*command, argv, side.environment->pointers.data()) < 0) {
            state.SkipWithError((command->path + " did not start or exit 0 (side " + side.name + ")").c_str());
            return;
        }
    }
    std::size_t starts = 0;
    for (auto _ : state) {
        for (std::size_t step = 0; step < count; ++step) {
            const std::size_t side = (starts + step) % count;
            const std::int64_t spent = timed_spawn(*command, argv, (*sides)[side].environment->pointers.data());
            if (spent < 0) {
                state.SkipWithError((command->path + " did not start or exit 0 (side " + (*sides)[side].name + ")").c_str());
                return;
            }
            spent_ns[side].push_back(spent);
        }
        ++starts;
    }
    if (starts == 0) return;
    auto index_of = [&](const std::string& name) -> std::ptrdiff_t {
        for (std::size_t side = 0; side < count; ++side)
            if ((*sides)[side].name == name) return static_cast<std::ptrdiff_t>(side);
        return -1;
    };
    // The median over iterations of side's time minus bare's time in the same iteration.
    auto added = [&](std::ptrdiff_t side, std::ptrdiff_t bare) {
        std::vector<std::int64_t> differences;
        for (std::size_t i = 0; i < starts; ++i)
            differences.push_back(spent_ns[static_cast<std::size_t>(side)][i] - spent_ns[static_cast<std::size_t>(bare)][i]);
        return median_of(differences);
    };
    for (std::size_t side = 0; side < count; ++side) {
        std::vector<std::int64_t> copy = spent_ns[side];
        state.counters[(*sides)[side].name + "_ns"] = median_of(copy);
    }
    const std::ptrdiff_t bare = index_of("bare"), with = index_of("with"), empty = index_of("empty"),
                         empty_again = index_of("empty_again");
    if (bare < 0) return;
    if (with >= 0) {
        state.counters["added_ns"] = added(with, bare);
        state.counters["ratio"] = state.counters["with_ns"] / state.counters["bare_ns"];
    }
    if (empty >= 0) {
        const double floor = added(empty, bare);
        state.counters["empty_added_ns"] = floor;
        const std::ptrdiff_t numerator = empty_again >= 0 ? empty_again : with;
        if (numerator >= 0 && floor != 0) state.counters["floor_ratio"] = added(numerator, bare) / floor;
    }
}

// A policy file of rules generated rules (generated_policy()), compiled, in a directory
// of this user's kept between runs (made once: 10,000 rules take a second to compile).
// Returns its path, or "" when it cannot be made.
std::string compiled_policy_file(int rules) {
    const std::string directory = "/tmp/bindguard-bench-policies-" + std::to_string(getuid());
    mkdir(directory.c_str(), 0700);
    const std::string path = directory + "/rules-" + std::to_string(rules) + ".toml";
    if (bindguard::image::find_image(path).freshness == bindguard::image::Freshness::fresh) return path;
    {
        std::ofstream out(path, std::ios::trunc);
        out << generated_policy(rules);
        if (!out) return {};
    }
    const auto outcome = bindguard::image::compile_file(path);
    if (!outcome.ok) {
        std::string why = outcome.error;
        for (const auto& diagnostic : outcome.diagnostics) why += (why.empty() ? "" : "; ") + diagnostic.to_string();
        std::fprintf(stderr, "bindguard-bench: cannot compile %s: %s\n", path.c_str(), why.c_str());
        return {};
    }
    return path;
}

}  // namespace

void register_paired_startup_benchmarks(const std::string& noop_path, const std::string& shim_path,
                                        const std::string& empty_path) {
    const char* own_preload = std::getenv("LD_PRELOAD");
    if (shim_path.empty() || (own_preload != nullptr && *own_preload != '\0')) return;
    // bindguard with its built-in policy, as a shell safety net starts every command
    // the process A/B rows (startup/noop) carry a policy file.
    std::vector<std::string> extra{"LD_PRELOAD=" + shim_path};
    auto bare = std::make_shared<const Environment>(std::vector<std::string>{});
    auto with = std::make_shared<const Environment>(extra);
    // The empty library: the floor of any preload library, when it is there.
    std::shared_ptr<const Environment> empty;
    if (!empty_path.empty() && access(empty_path.c_str(), R_OK) == 0)
        empty = std::make_shared<const Environment>(std::vector<std::string>{"LD_PRELOAD=" + empty_path});
    auto register_pair = [&](const std::string& name, Command command, std::vector<Side> sides) {
        benchmark::RegisterBenchmark(name.c_str(), paired_spawn, std::make_shared<const Command>(std::move(command)),
                                     std::make_shared<const std::vector<Side>>(std::move(sides)))
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
    };
    // bare, empty library, bindguard; or bare and bindguard without the empty library.
    auto three_sides = [&]() {
        std::vector<Side> sides{{"bare", bare}, {"with", with}};
        if (empty) sides.insert(sides.begin() + 1, Side{"empty", empty});
        return sides;
    };
    if (access(noop_path.c_str(), X_OK) == 0) {
        register_pair("paired/startup/noop", {noop_path, {"bindguard-bench-noop"}}, three_sides());
        // Nothing differs between sides that share a name's meaning: bare twice (ratio,
        // added_ns) and the empty library twice (floor_ratio): what this method calls a
        // difference when there is none.
        std::vector<Side> aa{{"bare", bare}, {"with", bare}};
        if (empty) {
            aa.push_back({"empty", empty});
            aa.push_back({"empty_again", empty});
        }
        register_pair("paired/startup/noop-aa", {noop_path, {"bindguard-bench-noop"}}, std::move(aa));
    }
    if (const std::string node = find_on_path("node"); !node.empty())
        register_pair("paired/startup/node-e0", {node, {"node", "-e", "0"}}, three_sides());
    // Start-up under a policy file of 0 to 10,000 rules: what every process pays once
    // the package's /etc/bindguard/policy.toml is there. The library maps the compiled
    // image; it should cost the same at any size.
    if (access(noop_path.c_str(), X_OK) == 0)
        for (const int rules : {0, 1, 100, 1000, 10000}) {
            const std::string policy = compiled_policy_file(rules);
            if (policy.empty()) continue;
            auto with_policy = std::make_shared<const Environment>(
                std::vector<std::string>{"LD_PRELOAD=" + shim_path, "BINDGUARD_POLICY=" + policy});
            std::vector<Side> sides{{"bare", bare}, {"with", with_policy}};
            if (empty) sides.insert(sides.begin() + 1, Side{"empty", empty});
            register_pair("paired/startup/policy-rules-" + std::to_string(rules), {noop_path, {"bindguard-bench-noop"}},
                          std::move(sides));
        }
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
