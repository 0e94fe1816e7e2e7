// The exported listen(): the policy layer does the work (guard.hpp).
#include "guard.hpp"

// Same contract as listen(2): 0, or -1 with errno; EACCES when the policy refuses
// the address the socket is bound to.
extern "C" __attribute__((visibility("default"))) int listen(int fd, int backlog) noexcept {
    return bindguard::shim::guarded_listen(fd, backlog);
}
