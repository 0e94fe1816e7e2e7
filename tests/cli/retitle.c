/* bg-cli-retitle ADDRESS:PORT [fork]: listens on a TCP IPv4 address (through libc, so the
 * library decides), then writes a process title over its argv and environment area, as
 * nginx, Redis and PostgreSQL do (setproctitle), so that /proc/PID/environ no longer
 * holds its variables. With "fork", a child that holds the socket too (a worker) is
 * started first; with "fork-close", the parent then closes its copy. Prints "ready PID" once done, then sleeps until killed. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    char address[64];
    snprintf(address, sizeof address, "%s", argv[1]);
    char* colon = strrchr(address, ':');
    if (colon == NULL) return 2;
    *colon = '\0';
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons((unsigned short)atoi(colon + 1));
    if (inet_pton(AF_INET, address, &in.sin_addr) != 1) return 2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr*)&in, sizeof in) != 0 || listen(fd, 8) != 0) {
        perror("bg-cli-retitle");
        return 1;
    }
    int fork_worker = argc > 2 && strncmp(argv[2], "fork", 4) == 0;
    int close_after_fork = argc > 2 && strcmp(argv[2], "fork-close") == 0;
    /* The area from argv[0] to the end of the last environment string, as setproctitle sees it. */
    char* start = argv[0];
    char* end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
    for (char** entry = environ; *entry != NULL; ++entry)
        if (*entry == end) end = *entry + strlen(*entry) + 1;
    memset(start, 0, (size_t)(end - start));
    snprintf(start, (size_t)(end - start), "retitled: master process");
    pid_t worker = 0;
    if (fork_worker) {
        worker = fork();
        if (worker == 0) {
            for (;;) pause();
        }
        if (close_after_fork) close(fd);
    }
    printf("ready %d\n", worker);
    fflush(stdout);
    for (;;) pause();
}
