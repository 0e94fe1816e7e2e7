/* bg-bindtest: performs one bind/listen scenario given on its command line and
 * prints one machine-readable line about it, e.g.
 *     ret=0 errno=0 local=127.0.0.1:41234
 * so that the tests can run it with and without libbindguard.so and compare.
 * It exits 0 unless its own setup fails (exit 2, message on stderr); the result
 * of the call under test is only ever reported, never turned into the status.
 *
 * Scenarios (ADDR is 1.2.3.4:P or [v6]:P; PROTO is tcp or udp, tcp6/udp6 also
 * accepted, the family always comes from ADDR):
 *   bind PROTO ADDR [v6only=0|1] [listen] [hold]
 *   listen-unbound tcp|tcp6 [v6only=0|1] [hold]    listen() on a socket never bound
 *   bind-null                       bind(fd, NULL, 16) on a TCP socket
 *   bind-short inet|inet6 LEN       wildcard address with addrlen LEN
 *   bind-long LEN                   sockaddr_in 0.0.0.0:0 in a larger buffer, addrlen LEN
 *   bind-badfd                      bind(-1, ...) and bind on a closed number
 *   bind-notsock                    bind() on a pipe
 *   bind-family N                   AF_INET socket, sockaddr_in 0.0.0.0:0 with sin_family N
 *   bind-mismatch [ADDR]            AF_INET6 socket, AF_INET address ADDR (default 0.0.0.0:0)
 *   unix PATH                       AF_UNIX stream bind + listen
 *   netlink                         AF_NETLINK bind
 *   packet                          AF_PACKET bind to lo
 *   raw-bind ADDR                   bind by the raw system call instruction (no libc
 *                                   symbol, invisible to any preload), then listen()
 *   errno-check ADDR                errno = 1234 before bind() and 4321 before listen();
 *                                   prints what errno is afterwards
 *   threads N ADDR                  N threads bind TCP sockets at the same moment
 *   fork ADDR                       bind in a forked child, then in the parent
 *   fd-reuse FILE ADDR              closes every fd > 2, puts FILE (the program's own
 *                                   file) on fd 2, then binds
 *   daemon FILE                     forks and exits 0; the child daemonizes (setsid, 0/1/2
 *                                   on /dev/null), counts its fds that still refer to the
 *                                   original stderr's file, binds 0.0.0.0:0 and writes
 *                                   "held=N ret= errno= local=" into FILE
 *   repeat N ADDR [pause=MS] [again=K]  N binds (new TCP sockets), then optionally sleeps
 *                                   and binds K more
 *   listen-fd FD                    listen() on an inherited socket FD
 *   bindx ADDR...                   setsockopt(SOL_SCTP, SCTP_SOCKOPT_BINDX_ADD) with the
 *                                   packed ADDRs (what sctp_bindx(3) sends) on a TCP socket
 *                                   of the first ADDR's family (this kernel may lack SCTP)
 *   bindresvport tcp|udp [ADDR]     bindresvport() with ADDR (port ignored), or NULL
 *   rresvport                       rresvport_af(&port, AF_INET)
 *   after-start ADDR                first does what programs do once started: writes a
 *                                   new process title over its argv ("renamed", as
 *                                   setproctitle and Node do), chdir("/"), sets
 *                                   BINDGUARD_POLICY=/nonexistent.toml and
 *                                   BINDGUARD_SERVICE=changed-after-start; then binds ADDR (TCP)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bg-common.h"

/* The name that bg-common.h's messages start with. */
const char bg_program_name[] = "bg-bindtest";

static void on_term(int signal_number) {
    (void)signal_number;
    _exit(0);
}

/* Keeps the sockets open until SIGTERM/SIGINT. */
static void hold(void) {
    fflush(stdout);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    for (;;) pause();
}

static int socket_type(const char* proto) {
    if (strncmp(proto, "tcp", 3) == 0) return SOCK_STREAM;
    if (strncmp(proto, "udp", 3) == 0) return SOCK_DGRAM;
    bg_usage("PROTO must be tcp or udp");
    return -1;
}

/* Options after the fixed arguments. */
struct options {
    int v6only; /* -1: leave the system default */
    int listen;
    int hold;
};

static struct options parse_options(int argc, char** argv, int first) {
    struct options options = {-1, 0, 0};
    for (int i = first; i < argc; ++i) {
        if (strcmp(argv[i], "v6only=0") == 0) options.v6only = 0;
        else if (strcmp(argv[i], "v6only=1") == 0) options.v6only = 1;
        else if (strcmp(argv[i], "listen") == 0) options.listen = 1;
        else if (strcmp(argv[i], "hold") == 0) options.hold = 1;
        else bg_usage("unknown option");
    }
    return options;
}

static int make_socket(int family, int type, int v6only) {
    const int fd = socket(family, type, 0);
    if (fd < 0) bg_die("socket");
    if (family == AF_INET6 && v6only >= 0 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
        bg_die("setsockopt IPV6_V6ONLY");
    return fd;
}

/* bind PROTO ADDR [v6only=] [listen] [hold] */
static int scenario_bind(int argc, char** argv) {
    if (argc < 4) bg_usage("bind PROTO ADDR");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[3], &address);
    const struct options options = parse_options(argc, argv, 4);
    const int fd = make_socket(address.ss_family, socket_type(argv[2]), options.v6only);
    const int ret = bind(fd, (struct sockaddr*)&address, length);
    const int error = ret == 0 ? 0 : errno;
    char local[256];
    bg_local_text(fd, local, sizeof local);
    printf("ret=%d errno=%d", ret, error);
    if (options.listen && ret == 0) {
        const int listen_ret = listen(fd, 16);
        printf(" listen_ret=%d listen_errno=%d", listen_ret, listen_ret == 0 ? 0 : errno);
        printf(" listening=%d", bg_is_listening(fd));
    }
    printf(" local=%s\n", local);
    if (options.hold) hold();
    return 0;
}

/* listen-unbound tcp|tcp6 [v6only=] [hold] */
static int scenario_listen_unbound(int argc, char** argv) {
    if (argc < 3) bg_usage("listen-unbound tcp|tcp6");
    const int family = strcmp(argv[2], "tcp6") == 0 ? AF_INET6 : AF_INET;
    const struct options options = parse_options(argc, argv, 3);
    const int fd = make_socket(family, SOCK_STREAM, options.v6only);
    const int ret = listen(fd, 16);
    const int error = ret == 0 ? 0 : errno;
    char local[256];
    bg_local_text(fd, local, sizeof local);
    printf("ret=%d errno=%d listening=%d local=%s\n", ret, error, bg_is_listening(fd), local);
    if (options.hold) hold();
    return 0;
}

static void report(int fd, int ret, int error) {
    char local[256];
    bg_local_text(fd, local, sizeof local);
    printf("ret=%d errno=%d local=%s\n", ret, error, local);
}

static int scenario_bind_null(void) {
    const int fd = make_socket(AF_INET, SOCK_STREAM, -1);
    const int ret = bind(fd, NULL, 16);
    report(fd, ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_bind_short(int argc, char** argv) {
    if (argc < 4) bg_usage("bind-short inet|inet6 LEN");
    const int family = strcmp(argv[2], "inet6") == 0 ? AF_INET6 : AF_INET;
    const socklen_t length = (socklen_t)strtoul(argv[3], NULL, 10);
    struct sockaddr_storage address;
    bg_parse_address(family == AF_INET6 ? "[::]:0" : "0.0.0.0:0", &address);
    const int fd = make_socket(family, SOCK_STREAM, -1);
    const int ret = bind(fd, (struct sockaddr*)&address, length);
    report(fd, ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_bind_long(int argc, char** argv) {
    if (argc < 3) bg_usage("bind-long LEN");
    const socklen_t length = (socklen_t)strtoul(argv[2], NULL, 10);
    static unsigned char buffer[4096];
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    memcpy(buffer, &in, sizeof in);
    const int fd = make_socket(AF_INET, SOCK_STREAM, -1);
    const int ret = bind(fd, (const struct sockaddr*)buffer, length);
    report(fd, ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_bind_badfd(void) {
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address("0.0.0.0:0", &address);
    const int ret = bind(-1, (struct sockaddr*)&address, length);
    const int error = ret == 0 ? 0 : errno;
    const int ret2 = bind(987, (struct sockaddr*)&address, length); /* not open */
    const int error2 = ret2 == 0 ? 0 : errno;
    const int ret3 = listen(987, 1);
    const int error3 = ret3 == 0 ? 0 : errno;
    printf("ret=%d errno=%d closed_ret=%d closed_errno=%d listen_ret=%d listen_errno=%d\n", ret, error, ret2,
           error2, ret3, error3);
    return 0;
}

static int scenario_bind_notsock(void) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) bg_die("pipe");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address("0.0.0.0:0", &address);
    const int ret = bind(pipe_fds[0], (struct sockaddr*)&address, length);
    const int error = ret == 0 ? 0 : errno;
    const int ret2 = listen(pipe_fds[0], 1);
    printf("ret=%d errno=%d listen_ret=%d listen_errno=%d\n", ret, error, ret2, ret2 == 0 ? 0 : errno);
    return 0;
}

static int scenario_bind_family(int argc, char** argv) {
    if (argc < 3) bg_usage("bind-family N");
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = (sa_family_t)strtoul(argv[2], NULL, 10);
    in.sin_addr.s_addr = htonl(INADDR_ANY);
    const int fd = make_socket(AF_INET, SOCK_STREAM, -1);
    const int ret = bind(fd, (struct sockaddr*)&in, sizeof in);
    report(fd, ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_bind_mismatch(int argc, char** argv) {
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argc > 2 ? argv[2] : "0.0.0.0:0", &address);
    const int fd = make_socket(AF_INET6, SOCK_STREAM, -1);
    const int ret = bind(fd, (struct sockaddr*)&address, length);
    report(fd, ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_unix(int argc, char** argv) {
    if (argc < 3) bg_usage("unix PATH");
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    snprintf(un.sun_path, sizeof un.sun_path, "%s", argv[2]);
    unlink(argv[2]);
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) bg_die("socket");
    const int ret = bind(fd, (struct sockaddr*)&un, sizeof un);
    const int error = ret == 0 ? 0 : errno;
    const int listen_ret = listen(fd, 4);
    char local[256];
    bg_local_text(fd, local, sizeof local);
    printf("ret=%d errno=%d listen_ret=%d listen_errno=%d local=%s\n", ret, error, listen_ret,
           listen_ret == 0 ? 0 : errno, local);
    unlink(argv[2]);
    return 0;
}

static int scenario_netlink(void) {
    const int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    if (fd < 0) bg_die("socket");
    struct sockaddr_nl nl;
    memset(&nl, 0, sizeof nl);
    nl.nl_family = AF_NETLINK;
    const int ret = bind(fd, (struct sockaddr*)&nl, sizeof nl);
    printf("ret=%d errno=%d\n", ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_packet(void) {
    const int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) bg_die("socket");
    struct sockaddr_ll ll;
    memset(&ll, 0, sizeof ll);
    ll.sll_family = AF_PACKET;
    ll.sll_protocol = htons(ETH_P_ALL);
    ll.sll_ifindex = (int)if_nametoindex("lo");
    const int ret = bind(fd, (struct sockaddr*)&ll, sizeof ll);
    printf("ret=%d errno=%d\n", ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_raw_bind(int argc, char** argv) {
    if (argc < 3) bg_usage("raw-bind ADDR");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[2], &address);
    const int fd = make_socket(address.ss_family, SOCK_STREAM, -1);
    const long bound = bg_raw_bind(fd, (struct sockaddr*)&address, length);
    if (bound != 0) {
        errno = (int)-bound;
        bg_die("raw bind");
    }
    char local[256];
    bg_local_text(fd, local, sizeof local);
    const int ret = listen(fd, 4);
    printf("ret=%d errno=%d listening=%d local=%s\n", ret, ret == 0 ? 0 : errno, bg_is_listening(fd), local);
    return 0;
}

static int scenario_errno_check(int argc, char** argv) {
    if (argc < 3) bg_usage("errno-check ADDR");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[2], &address);
    const int fd = make_socket(address.ss_family, SOCK_STREAM, -1);
    errno = 1234;
    const int ret = bind(fd, (struct sockaddr*)&address, length);
    const int after_bind = errno;
    errno = 4321;
    const int listen_ret = listen(fd, 4);
    const int after_listen = errno;
    /* A listen() on a never-bound socket too: the library binds it first. */
    const int fd2 = make_socket(address.ss_family, SOCK_STREAM, -1);
    errno = 5678;
    const int unbound_ret = listen(fd2, 4);
    const int after_unbound = errno;
    printf("ret=%d errno=%d listen_ret=%d listen_errno=%d unbound_ret=%d unbound_errno=%d\n", ret, after_bind,
           listen_ret, after_listen, unbound_ret, after_unbound);
    return 0;
}

struct thread_job {
    const struct sockaddr_storage* address;
    socklen_t length;
    pthread_barrier_t* barrier;
    int ret;
    int error;
    char local[128];
};

static void* thread_bind(void* argument) {
    struct thread_job* job = argument;
    const int fd = socket(job->address->ss_family, SOCK_STREAM, 0);
    pthread_barrier_wait(job->barrier);
    job->ret = bind(fd, (const struct sockaddr*)job->address, job->length);
    job->error = job->ret == 0 ? 0 : errno;
    bg_local_text(fd, job->local, sizeof job->local);
    return NULL;
}

static int scenario_threads(int argc, char** argv) {
    if (argc < 4) bg_usage("threads N ADDR");
    const int count = atoi(argv[2]);
    if (count < 1 || count > 64) bg_usage("threads: N in 1..64");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[3], &address);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, (unsigned)count);
    pthread_t threads[64];
    struct thread_job jobs[64];
    for (int i = 0; i < count; ++i) {
        jobs[i] = (struct thread_job){&address, length, &barrier, -1, 0, ""};
        if (pthread_create(&threads[i], NULL, thread_bind, &jobs[i]) != 0) bg_die("pthread_create");
    }
    int ret = 0;
    int error = 0;
    for (int i = 0; i < count; ++i) pthread_join(threads[i], NULL);
    printf("locals=");
    for (int i = 0; i < count; ++i) {
        if (jobs[i].ret != 0 && ret == 0) {
            ret = jobs[i].ret;
            error = jobs[i].error;
        }
        printf("%s%s", i ? "," : "", jobs[i].local);
    }
    printf(" ret=%d errno=%d\n", ret, error);
    return 0;
}

static int bind_and_report(const char* prefix, const struct sockaddr_storage* address, socklen_t length) {
    const int fd = make_socket(address->ss_family, SOCK_STREAM, -1);
    const int ret = bind(fd, (const struct sockaddr*)address, length);
    const int error = ret == 0 ? 0 : errno;
    char local[256];
    bg_local_text(fd, local, sizeof local);
    printf("%sret=%d errno=%d local=%s\n", prefix, ret, error, local);
    fflush(stdout);
    return fd;
}

static int scenario_after_start(int argc, char** argv) {
    if (argc < 3) bg_usage("after-start ADDR");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[2], &address);
    /* The new title over the whole argv area, as /proc/self/cmdline then shows it. */
    char* const area = argv[0];
    const size_t area_size = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - area);
    memset(area, 0, area_size);
    memcpy(area, "renamed", sizeof "renamed" < area_size ? sizeof "renamed" : area_size - 1);
    if (chdir("/") != 0) bg_die("chdir");
    if (setenv("BINDGUARD_POLICY", "/nonexistent.toml", 1) != 0) bg_die("setenv");
    if (setenv("BINDGUARD_SERVICE", "changed-after-start", 1) != 0) bg_die("setenv");
    const int fd = bind_and_report("", &address, length);
    close(fd);
    return 0;
}

static int scenario_fork(int argc, char** argv) {
    if (argc < 3) bg_usage("fork ADDR");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[2], &address);
    fflush(stdout);
    const pid_t child = fork();
    if (child < 0) bg_die("fork");
    if (child == 0) {
        bind_and_report("child ", &address, length);
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    bind_and_report("", &address, length);
    return 0;
}

/* The number of open fds of this process that refer to the file (st_dev, st_ino) of err. */
static int fds_referring_to(const struct stat* err) {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == NULL) bg_die("opendir /proc/self/fd");
    int count = 0;
    struct dirent* entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        const int fd = atoi(entry->d_name);
        struct stat status;
        if (fd != dirfd(dir) && fstat(fd, &status) == 0 && status.st_dev == err->st_dev &&
            status.st_ino == err->st_ino)
            ++count;
    }
    closedir(dir);
    return count;
}

static int scenario_fd_reuse(int argc, char** argv) {
    if (argc < 4) bg_usage("fd-reuse FILE ADDR");
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    const int highest = limit.rlim_cur > 4096 ? 4096 : (int)limit.rlim_cur;
    for (int fd = 3; fd < highest; ++fd) close(fd);
    const int file = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (file < 0) bg_die("open FILE");
    if (dup2(file, 2) != 2) bg_die("dup2");
    close(file);
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[3], &address);
    bind_and_report("", &address, length);
    return 0;
}

static int scenario_daemon(int argc, char** argv) {
    if (argc < 3) bg_usage("daemon FILE");
    struct stat err;
    if (fstat(2, &err) != 0) bg_die("fstat stderr");
    fflush(stdout);
    const pid_t child = fork();
    if (child < 0) bg_die("fork");
    if (child > 0) return 0;
    setsid();
    const int null = open("/dev/null", O_RDWR);
    if (null < 0) bg_die("open /dev/null");
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2) close(null);
    const int held = fds_referring_to(&err);
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address("0.0.0.0:0", &address);
    const int fd = make_socket(AF_INET, SOCK_STREAM, -1);
    const int ret = bind(fd, (struct sockaddr*)&address, length);
    const int error = ret == 0 ? 0 : errno;
    char local[256];
    bg_local_text(fd, local, sizeof local);
    char line[512];
    const int size = snprintf(line, sizeof line, "held=%d ret=%d errno=%d local=%s\n", held, ret, error, local);
    const int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || write(out, line, (size_t)size) != size) _exit(2);
    close(out);
    _exit(0);
}

static int scenario_repeat(int argc, char** argv) {
    if (argc < 4) bg_usage("repeat N ADDR [pause=MS] [again=K]");
    const int count = atoi(argv[2]);
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[3], &address);
    long pause_ms = 0;
    int again = 0;
    for (int i = 4; i < argc; ++i) {
        if (strncmp(argv[i], "pause=", 6) == 0) pause_ms = atol(argv[i] + 6);
        else if (strncmp(argv[i], "again=", 6) == 0) again = atoi(argv[i] + 6);
        else bg_usage("unknown option");
    }
    int failures = 0;
    for (int i = 0; i < count + again; ++i) {
        if (i == count && pause_ms > 0) {
            struct timespec delay = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
            nanosleep(&delay, NULL);
        }
        const int fd = make_socket(address.ss_family, SOCK_STREAM, -1);
        if (bind(fd, (struct sockaddr*)&address, length) != 0) ++failures;
        close(fd);
    }
    printf("ret=0 errno=0 binds=%d failures=%d\n", count + again, failures);
    return 0;
}

static int scenario_listen_fd(int argc, char** argv) {
    if (argc < 3) bg_usage("listen-fd FD");
    const int fd = atoi(argv[2]);
    const int ret = listen(fd, 16);
    const int error = ret == 0 ? 0 : errno;
    char local[256];
    bg_local_text(fd, local, sizeof local);
    printf("ret=%d errno=%d listening=%d local=%s\n", ret, error, bg_is_listening(fd), local);
    return 0;
}

static int scenario_bindx(int argc, char** argv) {
    if (argc < 3) bg_usage("bindx ADDR...");
    unsigned char packed[16 * sizeof(struct sockaddr_in6)];
    size_t size = 0;
    int family = AF_UNSPEC;
    for (int i = 2; i < argc && i < 18; ++i) {
        struct sockaddr_storage address;
        const socklen_t length = bg_parse_address(argv[i], &address);
        if (family == AF_UNSPEC) family = address.ss_family;
        memcpy(packed + size, &address, length);
        size += length;
    }
    const int fd = make_socket(family, SOCK_STREAM, -1);
    const int ret = setsockopt(fd, 132 /* SOL_SCTP */, 100 /* SCTP_SOCKOPT_BINDX_ADD */, packed, (socklen_t)size);
    printf("ret=%d errno=%d\n", ret, ret == 0 ? 0 : errno);
    return 0;
}

static int scenario_bindresvport(int argc, char** argv) {
    if (argc < 3) bg_usage("bindresvport tcp|udp [ADDR]");
    struct sockaddr_storage address;
    memset(&address, 0, sizeof address);
    const int given = argc >= 4;
    if (given) bg_parse_address(argv[3], &address);
    const int fd = make_socket(given ? address.ss_family : AF_INET, socket_type(argv[2]), -1);
    errno = 1234;
    const int ret = bindresvport(fd, given ? (struct sockaddr_in*)&address : NULL);
    const int error = errno;
    char local[256];
    bg_local_text(fd, local, sizeof local);
    int port = 0;
    if (given) port = ntohs(address.ss_family == AF_INET6 ? ((struct sockaddr_in6*)&address)->sin6_port
                                                            : ((struct sockaddr_in*)&address)->sin_port);
    printf("ret=%d errno=%d local=%s given_port=%d\n", ret, error, local, port);
    return 0;
}

static int scenario_rresvport(void) {
    int port = 0;
    const int fd = rresvport_af(&port, AF_INET);
    const int error = fd < 0 ? errno : 0;
    char local[256] = "-";
    if (fd >= 0) bg_local_text(fd, local, sizeof local);
    printf("ret=%d errno=%d local=%s\n", fd < 0 ? -1 : 0, error, local);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) bg_usage("no scenario");
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char* scenario = argv[1];
    if (strcmp(scenario, "bind") == 0) return scenario_bind(argc, argv);
    if (strcmp(scenario, "listen-unbound") == 0) return scenario_listen_unbound(argc, argv);
    if (strcmp(scenario, "bind-null") == 0) return scenario_bind_null();
    if (strcmp(scenario, "bind-short") == 0) return scenario_bind_short(argc, argv);
    if (strcmp(scenario, "bind-badfd") == 0) return scenario_bind_badfd();
    if (strcmp(scenario, "bind-long") == 0) return scenario_bind_long(argc, argv);
    if (strcmp(scenario, "bind-notsock") == 0) return scenario_bind_notsock();
    if (strcmp(scenario, "bind-family") == 0) return scenario_bind_family(argc, argv);
    if (strcmp(scenario, "bind-mismatch") == 0) return scenario_bind_mismatch(argc, argv);
    if (strcmp(scenario, "unix") == 0) return scenario_unix(argc, argv);
    if (strcmp(scenario, "netlink") == 0) return scenario_netlink();
    if (strcmp(scenario, "packet") == 0) return scenario_packet();
    if (strcmp(scenario, "raw-bind") == 0) return scenario_raw_bind(argc, argv);
    if (strcmp(scenario, "errno-check") == 0) return scenario_errno_check(argc, argv);
    if (strcmp(scenario, "threads") == 0) return scenario_threads(argc, argv);
    if (strcmp(scenario, "fork") == 0) return scenario_fork(argc, argv);
    if (strcmp(scenario, "after-start") == 0) return scenario_after_start(argc, argv);
    if (strcmp(scenario, "fd-reuse") == 0) return scenario_fd_reuse(argc, argv);
    if (strcmp(scenario, "repeat") == 0) return scenario_repeat(argc, argv);
    if (strcmp(scenario, "daemon") == 0) return scenario_daemon(argc, argv);
    if (strcmp(scenario, "bindx") == 0) return scenario_bindx(argc, argv);
    if (strcmp(scenario, "bindresvport") == 0) return scenario_bindresvport(argc, argv);
    if (strcmp(scenario, "rresvport") == 0) return scenario_rresvport();
    if (strcmp(scenario, "listen-fd") == 0) return scenario_listen_fd(argc, argv);
    bg_usage("unknown scenario");
    return 2;
}
