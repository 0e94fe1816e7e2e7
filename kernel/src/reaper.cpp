// The reaper: a small detached process that removes a protected cgroup, and its rule
// set, once the program has joined it and every process in it has exited.
#include <bpf/bpf.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bindguard/kernel.hpp"

namespace bindguard::kernel {
namespace {

// Blocks until the cgroup at path is empty (cgroup.events says "populated 0"): woken by
// the kernel's notification on cgroup.events, and by a 1 s poll as a backstop.
void wait_until_empty(const std::string& path) {
    const std::string events = path + "/cgroup.events";
    while (cgroup_populated(path)) {
        int fd = ::open(events.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return;  // gone
        char buffer[256];
        (void)!::read(fd, buffer, sizeof buffer);  // arms the notification
        if (!cgroup_populated(path)) {
            ::close(fd);
            break;
        }
        pollfd p{fd, POLLPRI, 0};
        ::poll(&p, 1, 1000);
        ::close(fd);
    }
}

// The reaper's whole life. Never returns.
[[noreturn]] void reap(int joined, const std::string& cgroup, std::uint64_t id, const std::string& pin_dir) {
    char byte;
    while (::read(joined, &byte, 1) < 0 && errno == EINTR) {
    }
    ::close(joined);
    for (int attempt = 0; attempt < 600; ++attempt) {  // a program that keeps making sub-cgroups: give up after ~10 min
        wait_until_empty(cgroup);
        if (remove_cgroup(cgroup)) break;
        ::usleep(1000 * 1000);
    }
    if (cgroup_gone(id)) {
        int policies = bpf_obj_get((pin_dir + "/map_policies").c_str());
        if (policies >= 0) bpf_map_delete_elem(policies, &id);
    }
    ::_exit(0);
}

}  // namespace

int start_reaper(const std::string& cgroup, std::uint64_t id, const std::string& pin_dir) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0)
        throw KernelError(std::string("cannot make a pipe for the cgroup reaper: ") + std::strerror(errno));
    pid_t middle = ::fork();
    if (middle < 0) {
        int error = errno;
        ::close(pipe_fds[0]);
        ::close(pipe_fds[1]);
        throw KernelError(std::string("cannot start the cgroup reaper: ") + std::strerror(error));
    }
    if (middle == 0) {
        // The middle process: a new session, then the reaper itself, orphaned at once so
        // that it is not the program's child.
        ::setsid();
        pid_t reaper = ::fork();
        if (reaper != 0) ::_exit(reaper < 0 ? 1 : 0);
        int null = ::open("/dev/null", O_RDWR);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
        }
        ::dup2(pipe_fds[0], 3);
        ::close_range(4, ~0u, 0);
        reap(3, cgroup, id, pin_dir);
    }
    ::close(pipe_fds[0]);
    int status = 0;
    while (::waitpid(middle, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ::close(pipe_fds[1]);
        throw KernelError("cannot start the cgroup reaper (fork failed)");
    }
    return pipe_fds[1];
}

}  // namespace bindguard::kernel
