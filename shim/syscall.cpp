// The exported syscall(): SYS_bind, SYS_listen and SYS_setsockopt get exactly the
// decisions of bind(), listen() and setsockopt() (guard.hpp); every other number goes to the next
// syscall() (dlsym(RTLD_NEXT)) with all six arguments, unchanged.
//
// Return convention, as in syscall(2): the system call's result, or -1 with
// errno set (for SYS_bind/SYS_listen: guard.hpp's convention, EACCES when the
// policy refuses). Six arguments are always read, as glibc's own syscall()
// does: the kernel ignores the ones a call does not use.
//
// No recursion: guarded_bind/guarded_listen call the next bind()/listen()
// symbols (real.hpp), and glibc's bind()/listen() enter the kernel directly,
// never through syscall().
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>

#include "guard.hpp"

namespace bindguard::shim {
namespace {

using SyscallFunction = long (*)(long, ...);

// Written once (racing writers store the same value), read without locks.
std::atomic<SyscallFunction> next_syscall{nullptr};

// The next syscall(), or nullptr. Resolved at load time; the lazy path (a
// call from an earlier constructor) may let dlsym allocate, once.
SyscallFunction resolve_next_syscall() noexcept {
    SyscallFunction function = next_syscall.load(std::memory_order_acquire);
    if (function == nullptr) {
        function = reinterpret_cast<SyscallFunction>(dlsym(RTLD_NEXT, "syscall"));
        if (function != nullptr) next_syscall.store(function, std::memory_order_release);
    }
    return function;
}

__attribute__((constructor)) void resolve_syscall_at_load() { resolve_next_syscall(); }

}  // namespace
}  // namespace bindguard::shim

extern "C" __attribute__((visibility("default"))) long syscall(long number, ...) noexcept {
    using namespace bindguard::shim;
    long arguments[6];
    va_list list;
    va_start(list, number);
    for (long& argument : arguments) argument = va_arg(list, long);
    va_end(list);

    // The kernel reads these arguments as int / socklen_t; so do we.
    switch (number) {
#ifdef SYS_bind
        case SYS_bind:
            return guarded_bind(static_cast<int>(arguments[0]), reinterpret_cast<const sockaddr*>(arguments[1]),
                                static_cast<socklen_t>(arguments[2]), "syscall");
#endif
#ifdef SYS_listen
        case SYS_listen:
            return guarded_listen(static_cast<int>(arguments[0]), static_cast<int>(arguments[1]));
#endif
#ifdef SYS_setsockopt
        case SYS_setsockopt:
            return guarded_setsockopt(static_cast<int>(arguments[0]), static_cast<int>(arguments[1]),
                                      static_cast<int>(arguments[2]), reinterpret_cast<const void*>(arguments[3]),
                                      static_cast<socklen_t>(arguments[4]));
#endif
        default:
            break;
    }
    const SyscallFunction next = resolve_next_syscall();
    if (next == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return next(number, arguments[0], arguments[1], arguments[2], arguments[3], arguments[4], arguments[5]);
}
