// The exported exec functions: each starts its program with the library put
// back into the environment when needed (child_env.hpp). glibc's execv, execvp,
// execl* and fexecve reach the kernel through internal calls, not through the
// exported execve, so every public one is wrapped here; all of them end in the
// next execve, execvpe, fexecve or execveat with the (possibly rebuilt)
// environment, so PATH search and the other semantics stay glibc's.
//
// Return convention of all of them, as in exec(3): no return on success; -1
// with the kernel's errno on failure (ENOSYS if the next function is missing).
// Nothing here allocates: argument vectors of the variadic forms are built on
// the stack (or in an anonymous mapping when very long).
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstddef>

#include "child_env.hpp"

extern "C" char** environ;

namespace bindguard::shim {
namespace {

// Calls the next function, or fails with ENOSYS when there is none.
template <class Function, class... Args>
int call_next(Function function, Args... args) noexcept {
    if (function == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return function(args...);
}

int exec_path(const char* path, char* const argv[], char* const envp[]) noexcept {
    const auto next = next_exec_functions().execve;
    return with_child_environment(envp, FailureConvention::minus_one_errno,
                                  [&](char* const* env) { return call_next(next, path, argv, env); });
}

int exec_search(const char* file, char* const argv[], char* const envp[]) noexcept {
    const auto next = next_exec_functions().execvpe;
    return with_child_environment(envp, FailureConvention::minus_one_errno,
                                  [&](char* const* env) { return call_next(next, file, argv, env); });
}

// Which exec function a variadic list call ends in.
enum class ListCall { execl, execlp, execle };

// The argument list of execl/execlp/execle (arg0, then args up to a NULL, then
// for execle the envp) as a vector on the stack, then the exec. -1 with errno.
int exec_list(ListCall call, const char* path, const char* arg0, va_list args) noexcept {
    std::size_t count = 0;
    if (arg0 != nullptr) {
        va_list counting;
        va_copy(counting, args);
        count = 1;
        while (va_arg(counting, const char*) != nullptr) ++count;
        va_end(counting);
    }
    const std::size_t bytes = (count + 1) * sizeof(char*);
    const bool on_stack = bytes <= kStackScratchLimit;
    void* memory = on_stack ? __builtin_alloca(bytes) : map_scratch(bytes);
    if (memory == nullptr) {
        errno = ENOMEM;
        return -1;
    }
    auto** argv = static_cast<char**>(memory);
    if (count > 0) {
        argv[0] = const_cast<char*>(arg0);
        for (std::size_t i = 1; i < count; ++i) argv[i] = va_arg(args, char*);
        (void)va_arg(args, char*);  // the terminating NULL
    }
    argv[count] = nullptr;
    char* const* envp = call == ListCall::execle ? va_arg(args, char* const*) : environ;

    const int result = call == ListCall::execlp ? exec_search(path, argv, envp) : exec_path(path, argv, envp);
    if (!on_stack) unmap_scratch(memory, bytes);
    return result;
}

}  // namespace
}  // namespace bindguard::shim

using namespace bindguard::shim;

#define BINDGUARD_EXPORT extern "C" __attribute__((visibility("default")))

BINDGUARD_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) noexcept {
    return exec_path(path, argv, envp);
}

BINDGUARD_EXPORT int execv(const char* path, char* const argv[]) noexcept { return exec_path(path, argv, environ); }

BINDGUARD_EXPORT int execvp(const char* file, char* const argv[]) noexcept {
    return exec_search(file, argv, environ);
}

BINDGUARD_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) noexcept {
    return exec_search(file, argv, envp);
}

BINDGUARD_EXPORT int execl(const char* path, const char* arg, ...) noexcept {
    va_list args;
    va_start(args, arg);
    const int result = exec_list(ListCall::execl, path, arg, args);
    va_end(args);
    return result;
}

BINDGUARD_EXPORT int execlp(const char* file, const char* arg, ...) noexcept {
    va_list args;
    va_start(args, arg);
    const int result = exec_list(ListCall::execlp, file, arg, args);
    va_end(args);
    return result;
}

BINDGUARD_EXPORT int execle(const char* path, const char* arg, ...) noexcept {
    va_list args;
    va_start(args, arg);
    const int result = exec_list(ListCall::execle, path, arg, args);
    va_end(args);
    return result;
}

BINDGUARD_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) noexcept {
    const auto next = next_exec_functions().fexecve;
    return with_child_environment(envp, FailureConvention::minus_one_errno,
                                  [&](char* const* env) { return call_next(next, fd, argv, env); });
}

BINDGUARD_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                              int flags) noexcept {
    const auto next = next_exec_functions().execveat;
    return with_child_environment(envp, FailureConvention::minus_one_errno,
                                  [&](char* const* env) { return call_next(next, dirfd, path, argv, env, flags); });
}
