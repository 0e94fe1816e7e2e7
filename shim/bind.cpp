// The exported bind(): the policy layer does the work (guard.hpp).
#include "guard.hpp"

// Same contract as bind(2): 0, or -1 with errno; EACCES when the policy denies.
extern "C" __attribute__((visibility("default"))) int bind(int fd, const struct sockaddr* addr,
                                                           socklen_t len) noexcept {
    return bindguard::shim::guarded_bind(fd, addr, len, "bind");
}
