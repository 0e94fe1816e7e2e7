/* bg-early: a shared library whose constructor binds a TCP socket to 0.0.0.0:0
 * and prints "early ret=R errno=E local=ADDR", and whose destructor does the
 * same and prints "late ...". Preloaded AFTER libbindguard.so
 * (LD_PRELOAD=libbindguard.so:libbg-early.so), its constructor runs before the
 * library's own and its destructor after the library's destructors, so the test
 * sees that a bind() arriving before the library's constructor, and one arriving
 * while the process is being torn down, still get the policy.
 * With BG_EARLY_THREADS=N, the constructor first starts N threads that bind at
 * the same moment (before the library is initialised: one of them builds its
 * state while the others wait for it) and prints "threads locals=A,B,...". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Binds a new TCP socket to 0.0.0.0:0; writes its local address into local. */
static int bind_wildcard(char* local, size_t size, int* error_out) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address;
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    const int ret = bind(fd, (struct sockaddr*)&address, sizeof address);
    *error_out = ret == 0 ? 0 : errno;
    struct sockaddr_in local_address;
    socklen_t length = sizeof local_address;
    memset(&local_address, 0, sizeof local_address);
    getsockname(fd, (struct sockaddr*)&local_address, &length);
    char host[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &local_address.sin_addr, host, sizeof host);
    snprintf(local, size, "%s:%u", host, ntohs(local_address.sin_port));
    close(fd);
    return ret;
}

static void bind_and_print(const char* label) {
    char local[64];
    int error = 0;
    const int ret = bind_wildcard(local, sizeof local, &error);
    char line[128];
    const int size = snprintf(line, sizeof line, "%s ret=%d errno=%d local=%s\n", label, ret, error, local);
    if (write(1, line, (size_t)size) < 0) return;
}

enum { kMaxThreads = 32 };
static pthread_barrier_t barrier;
static char thread_locals[kMaxThreads][64];

static void* bind_in_thread(void* slot) {
    int error = 0;
    pthread_barrier_wait(&barrier);
    bind_wildcard(thread_locals[(long)slot], sizeof thread_locals[0], &error);
    return NULL;
}

static void bind_from_threads(int count) {
    if (count > kMaxThreads) count = kMaxThreads;
    pthread_t threads[kMaxThreads];
    pthread_barrier_init(&barrier, NULL, (unsigned)count);
    for (long i = 0; i < count; ++i) pthread_create(&threads[i], NULL, bind_in_thread, (void*)i);
    for (int i = 0; i < count; ++i) pthread_join(threads[i], NULL);
    char line[kMaxThreads * 64 + 32] = "threads locals=";
    for (int i = 0; i < count; ++i) {
        if (i > 0) strcat(line, ",");
        strcat(line, thread_locals[i]);
    }
    strcat(line, "\n");
    if (write(1, line, strlen(line)) < 0) return;
}

__attribute__((constructor)) static void bind_early(void) {
    const char* threads = getenv("BG_EARLY_THREADS");
    if (threads != NULL) bind_from_threads(atoi(threads));
    bind_and_print("early");
}

__attribute__((destructor)) static void bind_late(void) { bind_and_print("late"); }
