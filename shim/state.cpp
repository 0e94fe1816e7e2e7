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

#include "launch.hpp"
#include "policy_image.hpp"
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

// The program's path, and what the rules' program and command filters answered for
// this process (image::FilterMemo: the first 64 Ki rules; later ones are matched each time).
char program_storage[4096];
std::atomic<std::uint8_t> filter_memo[65536];

const char* program_path() noexcept {
    const ssize_t length = readlink("/proc/self/exe", program_storage, sizeof program_storage);
    if (length < 0 || static_cast<std::size_t>(length) >= sizeof program_storage) return "";
    program_storage[length] = '\0';
    return program_storage;
}

// The user's cache directory of compiled images: $XDG_CACHE_HOME/bindguard or
// $HOME/.cache/bindguard, read with secure_getenv() (none in a set-uid program, whose
// caller must not choose its policy), or "".
const char* user_image_cache() noexcept {
    static char directory[4096];
    image::user_cache_directory(secure_getenv("XDG_CACHE_HOME"), secure_getenv("HOME"), directory, sizeof directory);
    return directory;
}

// The image of launch.policy_file (BINDGUARD_POLICY as the process started with it,
// else /etc/bindguard/policy.toml if anything existed there, launch.hpp), else the
// built-in one. A policy file whose image cannot be used (none, stale, damaged) gives the
// fail-closed image and one error line on stderr that names the file and
// `bindguard compile FILE`. The environment was read with secure_getenv(): in a
// set-uid/set-gid or file-capability program (glibc's secure-execution mode, where the
// library can only be loaded system-wide) the caller's environment must not choose the
// policy, nor through log.path make the program create or append to files of the
// caller's choosing.
image::PolicyImage process_image(const LaunchFacts& launch) noexcept {
    if (launch.lost) {
        write_stderr_line("error: what the process started with (BINDGUARD_POLICY, BINDGUARD_SERVICE, its "
                          "command line) could not be kept when the library was loaded (out of memory, or no "
                          "working directory for a relative policy path); every non-loopback bind and listen "
                          "is denied");
        return fail_closed_image();
    }
    if (launch.policy_file == nullptr) return builtin_image();
    image::PolicyImage mapped;
    char message[1024];
    if (map_policy_image(launch.policy_file, user_image_cache(), mapped, message, sizeof message)) return mapped;
    write_stderr_line(message);
    return fail_closed_image();
}

void build_state() noexcept {
    record_stderr_identity();
    resolve_real_functions();
    const LaunchFacts& launch = launch_facts();
    const image::PolicyImage image = process_image(launch);
    auto* built = new (state_storage) State{};
    built->program = program_path();
    built->command = launch.command != nullptr ? launch.command : "";
    built->service = launch.service();
    built->policy = image::ProcessPolicy(image, built->program, built->command, built->service,
                                         image::FilterMemo{filter_memo, sizeof filter_memo});
    const LogTarget target{image.log_to(), image.log_path(), image.log_format(), image.log_level(), image.log_rate()};
    built->logger.open(target, image.mode(), built->program, built->service);
    built->loopback_unlogged_allow =
        !built->policy.rules_may_match_loopback() && !built->logger.enabled(LogLevel::debug);
    built->rules_on_protocol = built->policy.rules_filter_protocol();
    built->public_ipv4_rewrite = built->policy.rewrites_every_public_ipv4_bind() && image.mode() == Mode::enforce &&
                                 !built->logger.enabled(LogLevel::info);
    state = built;
    status.store(ready, std::memory_order_release);
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
    if (launch_facts().policy_file == nullptr) return builtin_image().children_inherit();
    const State* current = process_state();
    return current == nullptr || current->policy.image().children_inherit();
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
