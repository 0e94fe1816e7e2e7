// The exported setsockopt(): SCTP_SOCKOPT_BINDX_ADD (what sctp_bindx(3) sends)
// adds local addresses to an SCTP socket, a bind by another name; it goes through
// the policy (guard.hpp). Every other option goes to the next setsockopt()
// untouched (one comparison on the way).
#include "guard.hpp"

// Same contract as setsockopt(2): 0, or -1 with errno; EACCES when the policy
// refuses an address of an SCTP bindx request.
extern "C" __attribute__((visibility("default"))) int setsockopt(int fd, int level, int name, const void* value,
                                                                 socklen_t length) noexcept {
    return bindguard::shim::guarded_setsockopt(fd, level, name, value, length);
}
