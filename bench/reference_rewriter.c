/* libbindguard-bench-rewriter.so: the simplest possible bind rewriter, the floor that a
 * rewritten bind() is compared to (the rewrite floor). Every IPv4 bind to INADDR_ANY
 * goes to 127.0.0.1 on the same port; everything else passes through. No policy, no
 * log, no other family: it is a measuring stick, not a safe shim.
 *
 * bindguard-bench dlopen()s it (RTLD_LOCAL, so it interposes nothing) and calls its
 * bind() through dlsym(), next to libc's bind() and the linked one, on one thread
 * (paired_bench.cpp). Its RTLD_NEXT lookup then finds libc's bind(), as it would when
 * preloaded. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_function)(int, const struct sockaddr*, socklen_t);

static bind_function next_bind;

__attribute__((constructor)) static void find_next_bind(void) {
    next_bind = (bind_function)dlsym(RTLD_NEXT, "bind");
}

/* As bind(2): 0, or -1 with errno set (ENOSYS when libc's bind was not found). */
int bind(int fd, const struct sockaddr* address, socklen_t length) {
    if (next_bind == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (address != NULL && length >= sizeof(struct sockaddr_in) && address->sa_family == AF_INET &&
        ((const struct sockaddr_in*)address)->sin_addr.s_addr == htonl(INADDR_ANY)) {
        struct sockaddr_in loopback;
        memcpy(&loopback, address, sizeof loopback);
        loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return next_bind(fd, (const struct sockaddr*)&loopback, sizeof loopback);
    }
    return next_bind(fd, address, length);
}
