// The exported posix_spawn() and posix_spawnp(): the child starts with the
// library put back into its environment when needed (child_env.hpp). glibc's
// posix_spawn runs the exec itself (clone + internal execve), so it needs its
// own wrapper; the rebuilt environment lives in this frame until the next
// posix_spawn has returned, i.e. until the child has exec'd or failed.
//
// Return convention, as in posix_spawn(3): 0 with *pid set, or an error number
// (ENOSYS if the next function is missing); errno is not part of the contract.
//
// system() is here too: glibc's system() starts /bin/sh through its internal
// posix_spawn with the current environment, out of our reach. When that
// environment carries the library (the usual case) the next system() runs
// unchanged; only when the program has removed the library from its own
// environment does system() run here, the same way: SIGINT/SIGQUIT ignored
// and SIGCHLD blocked while it waits, the child with the caller's signal mask
// and default SIGINT/SIGQUIT, /bin/sh -c COMMAND, 127 << 8 when the shell
// cannot be started. Unlike glibc's it does not count concurrent system()
// calls of other threads when it restores SIGINT/SIGQUIT.
#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>

#include "child_env.hpp"

extern "C" char** environ;

namespace bindguard::shim {
namespace {

using SpawnFunction = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                              char* const*, char* const*);

int spawn_with(SpawnFunction next, pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
               const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) noexcept {
    if (next == nullptr) return ENOSYS;
    return with_child_environment(envp, FailureConvention::error_number, [&](char* const* env) {
        return next(pid, path, actions, attributes, argv, env);
    });
}

using SystemFunction = int (*)(const char*);

// The next system(), resolved at load time (lazily before that).
std::atomic<SystemFunction> next_system{nullptr};

SystemFunction resolve_next_system() noexcept {
    SystemFunction function = next_system.load(std::memory_order_acquire);
    if (function == nullptr) {
        function = reinterpret_cast<SystemFunction>(dlsym(RTLD_NEXT, "system"));
        if (function != nullptr) next_system.store(function, std::memory_order_release);
    }
    return function;
}

__attribute__((constructor)) void resolve_system_at_load() { resolve_next_system(); }

// system(command) with the library put back into the shell's environment.
// Returns the wait status of the shell, 127 << 8 if it could not be started,
// or -1 with errno if waiting failed.
int system_with_library(const char* command) noexcept {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    struct sigaction old_interrupt {}, old_quit {};
    sigaction(SIGINT, &ignore, &old_interrupt);
    sigaction(SIGQUIT, &ignore, &old_quit);
    sigset_t child_signal, old_mask;
    sigemptyset(&child_signal);
    sigaddset(&child_signal, SIGCHLD);
    sigprocmask(SIG_BLOCK, &child_signal, &old_mask);

    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t defaults;
    sigemptyset(&defaults);
    if (old_interrupt.sa_handler != SIG_IGN) sigaddset(&defaults, SIGINT);
    if (old_quit.sa_handler != SIG_IGN) sigaddset(&defaults, SIGQUIT);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setsigmask(&attributes, &old_mask);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    char shell_name[] = "sh";
    char dash_c[] = "-c";
    char* argv[] = {shell_name, dash_c, const_cast<char*>(command), nullptr};
    pid_t pid = -1;
    int status = 0;
    const int error =
        spawn_with(next_exec_functions().posix_spawn, &pid, "/bin/sh", nullptr, &attributes, argv, environ);
    int wait_error = 0;
    if (error == 0) {
        while (waitpid(pid, &status, 0) < 0) {
            if (errno != EINTR) {
                wait_error = errno;
                status = -1;
                break;
            }
        }
    } else {
        status = 127 << 8;  // as if the shell had exited with 127
    }
    posix_spawnattr_destroy(&attributes);
    sigaction(SIGINT, &old_interrupt, nullptr);
    sigaction(SIGQUIT, &old_quit, nullptr);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    if (wait_error != 0) errno = wait_error;
    return status;
}

}  // namespace
}  // namespace bindguard::shim

// Declared without noexcept, as in <spawn.h> (they are cancellation points);
// nothing in them throws.
extern "C" __attribute__((visibility("default"))) int posix_spawn(pid_t* pid, const char* path,
                                                                  const posix_spawn_file_actions_t* actions,
                                                                  const posix_spawnattr_t* attributes,
                                                                  char* const argv[], char* const envp[]) {
    using namespace bindguard::shim;
    return spawn_with(next_exec_functions().posix_spawn, pid, path, actions, attributes, argv, envp);
}

extern "C" __attribute__((visibility("default"))) int posix_spawnp(pid_t* pid, const char* file,
                                                                   const posix_spawn_file_actions_t* actions,
                                                                   const posix_spawnattr_t* attributes,
                                                                   char* const argv[], char* const envp[]) {
    using namespace bindguard::shim;
    return spawn_with(next_exec_functions().posix_spawnp, pid, file, actions, attributes, argv, envp);
}

// Same contract as system(3). Declared without noexcept, as in <stdlib.h>.
extern "C" __attribute__((visibility("default"))) int system(const char* command) {
    using namespace bindguard::shim;
    if (command != nullptr && plan_child_environment(environ).rebuild) return system_with_library(command);
    const SystemFunction next = resolve_next_system();
    if (next == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return next(command);
}
