/* bg-common: shared pieces of the C test helpers (see bg-common.h). */
#define _GNU_SOURCE
#include "bg-common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/un.h>

_Noreturn void bg_die(const char* what) {
    fprintf(stderr, "%s: %s: %s\n", bg_program_name, what, strerror(errno));
    exit(2);
}

_Noreturn void bg_usage(const char* message) {
    fprintf(stderr, "%s: %s (see the comment at the top of %s.c)\n", bg_program_name, message, bg_program_name);
    exit(2);
}

socklen_t bg_parse_address(const char* text, struct sockaddr_storage* storage) {
    memset(storage, 0, sizeof *storage);
    char host[128];
    const char* colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof host) bg_usage("bad ADDR");
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    const long port = strtol(colon + 1, NULL, 10);
    if (host[0] == '[') {
        size_t length = strlen(host);
        if (length < 2 || host[length - 1] != ']') bg_usage("bad IPv6 ADDR");
        host[length - 1] = '\0';
        struct sockaddr_in6* in6 = (struct sockaddr_in6*)storage;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)port);
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) bg_usage("bad IPv6 ADDR");
        return sizeof *in6;
    }
    struct sockaddr_in* in = (struct sockaddr_in*)storage;
    in->sin_family = AF_INET;
    in->sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &in->sin_addr) != 1) bg_usage("bad IPv4 ADDR");
    return sizeof *in;
}

void bg_local_text(int fd, char* out, size_t size) {
    struct sockaddr_storage storage;
    socklen_t length = sizeof storage;
    memset(&storage, 0, sizeof storage);
    if (getsockname(fd, (struct sockaddr*)&storage, &length) != 0) {
        snprintf(out, size, "-");
        return;
    }
    char host[INET6_ADDRSTRLEN];
    if (storage.ss_family == AF_INET) {
        const struct sockaddr_in* in = (const struct sockaddr_in*)&storage;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, size, "%s:%u", host, ntohs(in->sin_port));
    } else if (storage.ss_family == AF_INET6) {
        const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)&storage;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, size, "[%s]:%u", host, ntohs(in6->sin6_port));
    } else if (storage.ss_family == AF_UNIX) {
        const struct sockaddr_un* un = (const struct sockaddr_un*)&storage;
        snprintf(out, size, "%s", un->sun_path[0] ? un->sun_path : "-");
    } else {
        snprintf(out, size, "family%d", storage.ss_family);
    }
}

int bg_is_listening(int fd) {
    int value = 0;
    socklen_t length = sizeof value;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) != 0) return 0;
    return value != 0;
}

long bg_raw_bind(int fd, const struct sockaddr* address, socklen_t length) {
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_bind), "D"((long)fd), "S"((long)address), "d"((long)length)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_bind;
    register long x0 __asm__("x0") = fd;
    register long x1 __asm__("x1") = (long)address;
    register long x2 __asm__("x2") = (long)length;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
#else
#error "bg_raw_bind: add the system call instruction for this architecture"
#endif
}
