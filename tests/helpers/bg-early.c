/* bg-early: a shared library whose constructor binds a TCP socket to 0.0.0.0:0
 * and prints "early ret=R errno=E local=ADDR", and whose destructor does the
 * same and prints "late ...". Preloaded AFTER libbindguard.so
 * (LD_PRELOAD=libbindguard.so:libbg-early.so), its constructor runs before the
 * library's own and its destructor after the library's destructors, so the test
 * sees that a bind() arriving before the library's constructor, and one arriving
 * while the process is being torn down, still get the policy. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void bind_and_print(const char* label) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    const int ret = bind(fd, (struct sockaddr*)&address, sizeof address);
    const int error = ret == 0 ? 0 : errno;
    struct sockaddr_in local;
    socklen_t length = sizeof local;
    memset(&local, 0, sizeof local);
    getsockname(fd, (struct sockaddr*)&local, &length);
    char host[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &local.sin_addr, host, sizeof host);
    char line[128];
    const int size = snprintf(line, sizeof line, "%s ret=%d errno=%d local=%s:%u\n", label, ret, error, host,
                              ntohs(local.sin_port));
    if (write(1, line, (size_t)size) < 0) return;
}

__attribute__((constructor)) static void bind_early(void) { bind_and_print("early"); }

__attribute__((destructor)) static void bind_late(void) { bind_and_print("late"); }
