/* bg-chain: a second preloadable library that also interposes bind() and
 * listen(), as another shim would. Each call writes "chain bind ADDR" or
 * "chain listen FD" to stderr and forwards to the next definition
 * (dlsym(RTLD_NEXT)). Preloaded after libbindguard.so, it shows that the
 * library chains to whatever comes next, and what address it passes on. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void say(const char* line, int size) {
    if (size > 0 && write(2, line, (size_t)size) < 0) return;
}

/* glibc declares bind() with a transparent union argument in GNU C. */
int bind(int fd, __CONST_SOCKADDR_ARG argument, socklen_t length) {
    const struct sockaddr* address = argument.__sockaddr__;
    int (*next)(int, __CONST_SOCKADDR_ARG, socklen_t);
    *(void**)&next = dlsym(RTLD_NEXT, "bind"); /* the POSIX idiom for function pointers */
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (address != NULL && address->sa_family == AF_INET) {
        const struct sockaddr_in* in = (const struct sockaddr_in*)address;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (address != NULL && address->sa_family == AF_INET6) {
        const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)address;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    char line[128];
    say(line, snprintf(line, sizeof line, "chain bind %s:%u\n", host, port));
    return next(fd, argument, length);
}

int listen(int fd, int backlog) {
    int (*next)(int, int);
    *(void**)&next = dlsym(RTLD_NEXT, "listen");
    char line[64];
    say(line, snprintf(line, sizeof line, "chain listen %d\n", fd));
    return next(fd, backlog);
}
