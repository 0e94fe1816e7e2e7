// A private network namespace for the benchmarks that bind a wildcard address, so that
// nothing is ever exposed on the host's interfaces (the bare run binds 0.0.0.0 for real).
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bench.hpp"

namespace bgbench {

bool enter_private_netns(std::string& error) {
    if (unshare(CLONE_NEWNET) != 0) {
        error = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
        return false;
    }
    // A new namespace has `lo` down: 127.0.0.1 is not a local address until it is up.
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket(): ") + std::strerror(errno);
        return false;
    }
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = ioctl(fd, SIOCGIFFLAGS, &request) == 0;
    if (ok) {
        request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
        ok = ioctl(fd, SIOCSIFFLAGS, &request) == 0;
    }
    if (!ok) error = std::string("bringing lo up: ") + std::strerror(errno);
    close(fd);
    return ok;
}

}  // namespace bgbench
