#include "state.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <vector>

#include "launch.hpp"
#include "real.hpp"

namespace bindguard::shim {
namespace {

enum Status : int { not_started, running, ready, failed };

std::atomic<int> status{not_started};
// Which thread of which process is building the state (valid while running).
std::atomic<pid_t> builder_thread{0};
std::atomic<pid_t> builder_process{0};

// Set in the parent just before a fork(): whether the forking thread is the
// one building the state (then the child's copy of that thread finishes it).
std::atomic<bool> fork_from_builder{false};

// pthread_atfork handlers. A fork() from another thread while the state is being
// built leaves the child without the builder: it starts over on first use
// (the half-built storage is simply built again; nothing in it is ever destroyed).
void before_fork() noexcept {
    fork_from_builder.store(status.load(std::memory_order_acquire) == running &&
                                builder_process.load(std::memory_order_relaxed) == getpid() &&
                                builder_thread.load(std::memory_order_acquire) == gettid(),
                            std::memory_order_relaxed);
}
void in_child_after_fork() noexcept {
    if (status.load(std::memory_order_acquire) == running && !fork_from_builder.load(std::memory_order_relaxed))
        status.store(not_started, std::memory_order_release);
    restart_capture_in_child();
}

// Registers before_fork/in_child_after_fork, once (the constructor does it
// before anything can be building; a build that comes earlier does it first).
void register_fork_handlers() noexcept {
    static std::atomic<bool> registered{false};
    if (!registered.exchange(true)) pthread_atfork(before_fork, nullptr, in_child_after_fork);
}

// Static storage for the one State; never destroyed.
alignas(State) unsigned char state_storage[sizeof(State)];
State* state = nullptr;  // set before status becomes ready (release)

std::string program_path() {
    std::vector<char> buffer(4096);
    for (;;) {
        const ssize_t length = readlink("/proc/self/exe", buffer.data(), buffer.size());
        if (length < 0) return {};
        if (static_cast<std::size_t>(length) < buffer.size()) return std::string(buffer.data(), length);
        buffer.resize(buffer.size() * 2);
    }
}

// The policy of launch.policy_file (BINDGUARD_POLICY as the process started
// with it, else /etc/bindguard/policy.toml if anything existed there, launch.hpp),
// else the built-in one. A policy that cannot be loaded gives the fail-closed
// policy and its diagnostics (printed later). The environment was read with
// secure_getenv(): in a set-uid/set-gid or file-capability program (glibc's
// secure-execution mode, where the library can only be loaded system-wide) the
// caller's environment must not choose the policy, nor through log.path make
// the program create or append to files of the caller's choosing.
Policy load_policy(const LaunchFacts& launch, std::vector<Diagnostic>& diagnostics) {
    if (launch.policy_file == nullptr) return builtin_policy();
    // Warnings are never printed here (see build_state()), so they are not looked for:
    // the shadowing check compares every pair of rules, at every process start.
    LoadResult loaded = load_policy_file(launch.policy_file, Warnings::skip);
    diagnostics = std::move(loaded.diagnostics);
    if (loaded.ok()) return std::move(*loaded.policy);
    return fail_closed_policy(launch.policy_file);
}

// True when some rule of policy may match a bind to a loopback address (127.0.0.0/8,
// ::1, ::ffff:127.0.0.0/104): a rule without addresses, or with a CIDR that overlaps one.
bool rules_may_match_loopback(const Policy& policy) noexcept {
    static const Cidr kLoopback[] = {
        {AF_INET, {127}, 8},
        {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},
        {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127}, 104},
    };
    for (const Rule& rule : policy.rules) {
        if (rule.addresses.empty()) return true;
        for (const Cidr& cidr : rule.addresses)
            for (const Cidr& loopback : kLoopback)
                if (cidr.covers(loopback) || loopback.covers(cidr)) return true;
    }
    return false;
}

bool rules_filter_protocol(const Policy& policy) noexcept {
    for (const Rule& rule : policy.rules)
        if (rule.protocol != Protocol::any) return true;
    return false;
}

void build_state() noexcept {
    record_stderr_identity();
    try {
        resolve_real_functions();
        const LaunchFacts& launch = launch_facts();
        std::vector<Diagnostic> diagnostics;
        Policy policy = launch.lost ? fail_closed_policy("(lost at start)") : load_policy(launch, diagnostics);
        if (launch.lost)
            write_stderr_line("error: what the process started with (BINDGUARD_POLICY, BINDGUARD_SERVICE, its "
                              "command line) could not be kept when the library was loaded (out of memory, or no "
                              "working directory for a relative policy path); every non-loopback bind and listen "
                              "is denied");
        auto* built = new (state_storage) State{};
        built->program = program_path();
        built->command = launch.command;
        built->service = launch.service();
        built->policy = for_process(policy, built->program, built->command, built->service);
        built->logger.open(built->policy.log, built->policy.mode, built->program.c_str(),
                           built->service.c_str());
        // The errors of a policy that failed to load go to stderr, one line each
        // (the process then runs on the fail-closed policy). A valid policy's
        // warnings (shadowed rules, CIDR host bits) are not printed (load_policy()
        // does not even look for them): every program would repeat them at every
        // start; `bindguard check` and `explain` show them.
        for (const Diagnostic& diagnostic : diagnostics) write_stderr_line(diagnostic.to_string());
        built->loopback_unlogged_allow =
            !rules_may_match_loopback(built->policy) && !built->logger.enabled(LogLevel::debug);
        built->rules_on_protocol = rules_filter_protocol(built->policy);
        built->public_ipv4_rewrite = rewrites_every_public_ipv4_bind(built->policy) &&
                                     built->policy.mode == Mode::enforce && !built->logger.enabled(LogLevel::info);
        state = built;
        status.store(ready, std::memory_order_release);
    } catch (...) {
        write_stderr_line(
            "error: initialisation failed (out of memory?); every non-loopback bind and listen is denied");
        status.store(failed, std::memory_order_release);
    }
}

// Builds the state, once: the first call wins, the others return at once.
void initialise_once() noexcept {
    int expected = not_started;
    if (!status.compare_exchange_strong(expected, running, std::memory_order_acq_rel)) return;
    // Marked running BEFORE setup runs: a bind() from inside the setup sees that
    // its own thread is the builder and uses the bootstrap decision.
    builder_process.store(getpid(), std::memory_order_relaxed);
    builder_thread.store(gettid(), std::memory_order_release);
    const int saved = errno;
    register_fork_handlers();
    build_state();
    errno = saved;
}

}  // namespace

void prepare_state_at_load() noexcept {
    const int saved = errno;
    register_fork_handlers();
    resolve_real_functions();
    errno = saved;
    if (launch_facts().policy_file != nullptr) initialise_once();
}

bool policy_children_inherit() noexcept {
    if (launch_facts().policy_file == nullptr) return Policy{}.children_inherit;  // the built-in policy's
    const State* current = process_state();
    return current == nullptr || current->policy.children_inherit;
}

const State* process_state() noexcept {
    for (;;) {
        const int current = status.load(std::memory_order_acquire);
        if (current == ready) return state;
        if (current == failed) return nullptr;
        if (current == not_started) {
            initialise_once();
            continue;
        }
        // running: it may be our own thread (recursion from the setup), or a
        // builder thread that fork() left behind in the parent.
        const pid_t builder = builder_thread.load(std::memory_order_acquire);
        if (builder == gettid() || builder_process.load(std::memory_order_relaxed) != getpid()) {
            if (builder != 0) return nullptr;
        }
        sched_yield();
    }
}

Decision bootstrap_decision(const Request& request) noexcept {
    Decision decision;
    decision.action = is_loopback(request.address) ? Action::allow : Action::deny;
    decision.address = request.address;
    decision.rule = "fail-closed";
    return decision;
}

Request make_request(const State* current, const Endpoint& address, Protocol protocol, bool v6only) noexcept {
    Request request;
    request.address = address;
    request.protocol = protocol;
    request.v6only = v6only;
    if (current != nullptr) {
        request.program = current->program;
        request.command = current->command;
        request.service = current->service;
    }
    return request;
}


}  // namespace bindguard::shim
