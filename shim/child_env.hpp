// The environment of the programs a protected process starts (row 17 of
// BINDING-CASES.md): when a program is started with an environment that no
// longer carries the library, the library and its settings are put back.
//
// What is put back, into a NEW array (the caller's arrays and strings are never
// written):
//  - LD_PRELOAD: the libraries the child needs to load us (our own library,
//    and in a sanitizer build the sanitizer runtime first) are prepended when
//    missing; the other entries are kept in their order. The dynamic loader
//    reads the LAST LD_PRELOAD of the environment, so that one is the value
//    checked and kept; all LD_PRELOAD entries are replaced by a single one.
//  - BINDGUARD_POLICY and BINDGUARD_SERVICE: the values this process started
//    with (captured when the library was loaded; a relative policy path is made
//    absolute against the working directory of that moment), each only when
//    the caller's environment does not set it. A value the caller sets
//    explicitly wins.
//  - ASAN_OPTIONS (sanitizer builds only), the same way.
// Wrapped entry points: execve, execv, execvp, execvpe, execl, execlp, execle,
// fexecve, execveat (exec.cpp), posix_spawn, posix_spawnp and system()
// (spawn.cpp). Not reached: popen() and other libc-internal spawns, and
// execve by syscall(SYS_execve) or a raw system call instruction.
// Nothing is put back when the policy says `[children] inherit = false`, or
// when the settings could not be captured (the library's constructor has not
// run yet): the call is then forwarded unchanged.
//
// Everything here may run between fork()/vfork() and exec, so nothing on the
// exec path allocates or locks: the settings are captured once at load time
// into storage that never changes afterwards, the new environment is built in
// memory on the caller's stack (alloca, up to kStackScratchLimit bytes) or,
// for a very large environment, in an anonymous mmap() (a system call, safe
// after fork; unmapped again when the exec fails).
#pragma once

#include <spawn.h>
#include <sys/types.h>

#include <cerrno>
#include <cstddef>

namespace bindguard::shim {

// The next definitions of the functions that start programs (dlsym(RTLD_NEXT)),
// resolved when the library is loaded. Each is nullptr only if the symbol does
// not exist; then the wrapper fails with ENOSYS.
struct NextExecFunctions {
    int (*execve)(const char*, char* const*, char* const*) = nullptr;
    int (*execvpe)(const char*, char* const*, char* const*) = nullptr;
    int (*fexecve)(int, char* const*, char* const*) = nullptr;
    int (*execveat)(int, const char*, char* const*, char* const*, int) = nullptr;
    int (*posix_spawn)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                       char* const*, char* const*) = nullptr;
    int (*posix_spawnp)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                        char* const*, char* const*) = nullptr;
};

// The resolved functions. Resolves them first if the library's constructor has
// not run yet (dlsym may then allocate; only before initialisation).
const NextExecFunctions& next_exec_functions() noexcept;

// Captures the settings (the paths of the libraries a child must preload, and
// BINDGUARD_* from launch.hpp) and resolves the next functions. Runs once (the
// library's constructor calls it). Never allocates (but a relative library
// name goes through realpath(3)); never throws.
void capture_child_settings() noexcept;

// Scratch memory up to this size comes from the stack; beyond it, from mmap().
inline constexpr std::size_t kStackScratchLimit = 16 * 1024;

// What building the child's environment takes. Only read by build_child_environment().
struct ChildEnvironmentPlan {
    bool rebuild = false;             // false: use the caller's envp as it is
    std::size_t bytes = 0;            // scratch memory build_child_environment() needs
    std::size_t caller_entries = 0;   // entries of the caller's envp
    const char* loader_preload = nullptr;  // value of the LD_PRELOAD the loader would use, or nullptr
    unsigned missing_libraries = 0;   // bit i: required library i is not in loader_preload
    std::size_t preload_entry_size = 0;    // bytes of the new "LD_PRELOAD=..." entry, with its NUL
    bool add_policy = false;
    bool add_service = false;
    bool add_sanitizer_options = false;
};

// Looks at envp (nullptr is an empty environment, as for the kernel) and says
// whether and how the child's environment must be rebuilt. No allocation; errno
// is kept.
ChildEnvironmentPlan plan_child_environment(char* const* envp) noexcept;

// Builds the new environment in scratch (plan.bytes bytes, pointer-aligned)
// and returns it. Only for a plan with rebuild set. No allocation, errno kept.
char* const* build_child_environment(const ChildEnvironmentPlan& plan, char* const* envp, void* scratch) noexcept;

// Anonymous private memory of size bytes, or nullptr (errno kept).
void* map_scratch(std::size_t size) noexcept;
// Unmaps memory from map_scratch (errno kept).
void unmap_scratch(void* memory, std::size_t size) noexcept;

// How a wrapped function reports failure.
enum class FailureConvention {
    minus_one_errno,  // exec*: -1 with errno
    error_number,     // posix_spawn*: the error number as the return value
};

// Calls exec(env) with envp, or with the rebuilt environment when the child
// needs the library put back. Returns what exec returns; if the memory for a
// very large environment cannot be had, fails with ENOMEM without starting
// anything (the child would otherwise run unprotected).
template <class Exec>
int with_child_environment(char* const* envp, FailureConvention convention, Exec&& exec) noexcept {
    const ChildEnvironmentPlan plan = plan_child_environment(envp);
    if (!plan.rebuild) return exec(envp);
    if (plan.bytes <= kStackScratchLimit) {
        // In this frame, which stays alive until exec returns (or never does).
        void* scratch = __builtin_alloca(plan.bytes);
        return exec(build_child_environment(plan, envp, scratch));
    }
    void* scratch = map_scratch(plan.bytes);
    if (scratch == nullptr) {
        if (convention == FailureConvention::error_number) return ENOMEM;
        errno = ENOMEM;
        return -1;
    }
    const int result = exec(build_child_environment(plan, envp, scratch));
    unmap_scratch(scratch, plan.bytes);
    return result;
}

}  // namespace bindguard::shim
