#include "real.hpp"

#include <dlfcn.h>

#include <atomic>
#include <cerrno>

namespace bindguard::shim {
namespace {

using BindFunction = int (*)(int, const sockaddr*, socklen_t);
using ListenFunction = int (*)(int, int);
using SetsockoptFunction = int (*)(int, int, int, const void*, socklen_t);

// Written once (racing writers store the same value), read without locks.
std::atomic<BindFunction> next_bind{nullptr};
std::atomic<ListenFunction> next_listen{nullptr};
std::atomic<SetsockoptFunction> next_setsockopt{nullptr};

// The next definition of name, or nullptr. dlsym may allocate (its error buffer),
// which only happens on the first call of each function.
template <class Function>
Function resolve(std::atomic<Function>& slot, const char* name) noexcept {
    Function function = slot.load(std::memory_order_acquire);
    if (function == nullptr) {
        function = reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
        if (function != nullptr) slot.store(function, std::memory_order_release);
    }
    return function;
}

}  // namespace

void resolve_real_functions() noexcept {
    resolve(next_bind, "bind");
    resolve(next_listen, "listen");
    resolve(next_setsockopt, "setsockopt");
}

int real_bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
    const BindFunction function = resolve(next_bind, "bind");
    if (function == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return function(fd, addr, len);
}

int real_listen(int fd, int backlog) noexcept {
    const ListenFunction function = resolve(next_listen, "listen");
    if (function == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return function(fd, backlog);
}

int real_setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept {
    const SetsockoptFunction function = resolve(next_setsockopt, "setsockopt");
    if (function == nullptr) {
        errno = ENOSYS;
        return -1;
    }
    return function(fd, level, name, value, length);
}

}  // namespace bindguard::shim
