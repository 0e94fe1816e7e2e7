/* bg-forker: a preloadable library, listed BEFORE libbindguard.so in LD_PRELOAD,
 * that makes another thread fork() while libbindguard.so builds its state. Its
 * readlink() (which the library calls for /proc/self/exe during that build) starts
 * a thread that forks, the first time only; the child binds a TCP socket to
 * 0.0.0.0:0, prints "child ret=R errno=E local=ADDR" and exits; the thread waits
 * for it, then readlink() goes on. Deterministic: the fork happens exactly in the
 * middle of the initialisation, on a thread that is not the builder. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bg-common.h"

const char bg_program_name[] = "bg-forker";

static int forked;

static void* fork_and_bind(void* unused) {
    (void)unused;
    fflush(stdout);
    const pid_t child = fork();
    if (child == 0) {
        struct sockaddr_storage address;
        const socklen_t length = bg_parse_address("0.0.0.0:0", &address);
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        const int ret = bind(fd, (struct sockaddr*)&address, length);
        const int error = ret == 0 ? 0 : errno;
        char local[128];
        bg_local_text(fd, local, sizeof local);
        printf("child ret=%d errno=%d local=%s\n", ret, error, local);
        fflush(stdout);
        _exit(0);
    }
    if (child > 0) waitpid(child, NULL, 0);
    return NULL;
}

ssize_t readlink(const char* path, char* buffer, size_t size) {
    ssize_t (*next)(const char*, char*, size_t);
    *(void**)&next = dlsym(RTLD_NEXT, "readlink"); /* the POSIX idiom for function pointers */
    if (!forked && strcmp(path, "/proc/self/exe") == 0) {
        forked = 1;
        pthread_t thread;
        if (pthread_create(&thread, NULL, fork_and_bind, NULL) == 0) pthread_join(thread, NULL);
    }
    return next(path, buffer, size);
}
