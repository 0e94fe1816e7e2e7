// The real bind()/listen(): the next definitions after this library in the lookup
// order (dlsym(RTLD_NEXT, ...)), so that another preloaded library still chains.
#pragma once

#include <sys/socket.h>

namespace bindguard::shim {

// Looks the real functions up. Called from the library's initialisation; the
// real_* functions below also resolve lazily if a call comes before it.
void resolve_real_functions() noexcept;

// Call the real function. Return value and errno are exactly the real call's.
// If the symbol cannot be found (should not happen in a dynamically linked
// program), they return -1 with errno = ENOSYS.
int real_bind(int fd, const sockaddr* addr, socklen_t len) noexcept;
int real_listen(int fd, int backlog) noexcept;
int real_setsockopt(int fd, int level, int name, const void* value, socklen_t length) noexcept;

}  // namespace bindguard::shim
