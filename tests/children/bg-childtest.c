/* bg-childtest: the routes around the library that tests/children checks —
 * syscall() and the functions that start programs. One scenario per run, one
 * machine-readable result line (exit 2 with a message on stderr when its own
 * setup fails; the results of the calls under test are only reported).
 *
 * syscall() scenarios (ADDR is A.B.C.D:P or [v6]:P):
 *   syscall-bind tcp|udp ADDR     syscall(SYS_bind, ...)        -> ret= errno= local=
 *   syscall-bind-badfd            syscall(SYS_bind, -1, ...)    -> ret= errno=
 *   syscall-listen-unbound        syscall(SYS_listen) on a TCP socket never bound
 *                                                               -> ret= errno= listening= local=
 *   syscall-listen-rawbound ADDR  bind by the raw system call instruction (invisible to
 *                                 any preload), then syscall(SYS_listen) -> same fields
 *   syscall-getpid                -> getpid= syscall=
 *   syscall-six                   copy_file_range through syscall() with its six arguments
 *                                 -> ret= off_in= off_out= data= flags_ret= flags_errno=
 *   syscall-close-badfd           syscall(SYS_close, -1)        -> ret= errno=
 *
 * Starting programs:
 *   printenv                      prints LD_PRELOAD, BINDGUARD_POLICY, BINDGUARD_SERVICE,
 *                                 ASAN_OPTIONS ("NAME=value" or "NAME unset"), then
 *                                 "preload_entries=N extra=N" (LD_PRELOAD entries in the
 *                                 environment; BGCT_X* entries)
 *   exec ENTRY given|current PROGRAM [ARGS...]
 *       starts PROGRAM through ENTRY (execve, execv, execvp, execvpe, execl, execlp,
 *       execle, fexecve, execveat, posix_spawn, posix_spawnp, vfork-execve, system:
 *       /bin/sh -c 'PROGRAM' 'ARGS'..., current only) with an
 *       environment that lacks the library: "given" passes a fresh envp
 *       {PATH, BGCT_MARK=1, [BGCT_ENV entries], [BGCT_EXTRA=N entries BGCT_Xi=i]};
 *       "current" removes LD_PRELOAD, BINDGUARD_POLICY and BINDGUARD_SERVICE from the
 *       current environment (unsetenv) and uses it. The exec* entries run in a forked
 *       child (vfork for vfork-execve); the parent waits and exits with the child's
 *       status. PATH-searching entries get the basename of PROGRAM and PATH set to its
 *       directory. BGCT_ENV="K=V;K2=V2" adds entries to the given envp.
 *   system-status COMMAND|null     -> status= (system(COMMAND) or system(NULL)); add
 *                                 "cleaned" to remove LD_PRELOAD from the environment first
 *   spawn-loop N ENTRY PROGRAM      starts PROGRAM N times through ENTRY (posix_spawn,
 *                                 execve in a forked child, vfork-execve) with an EMPTY
 *                                 environment, waiting for each; -> rss_warm=KB rss_end=KB
 *                                 failures=F (VmRSS after the first N/10 and at the end)
 *   exec-fail ENTRY given|current
 *       calls ENTRY on a path that does not exist (fexecve: on /dev/null, which
 *       cannot be executed), in this process
 *       -> ret= errno= envp_intact=0|1 (the caller's envp array and strings unchanged)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bg-common.h"

extern char** environ;

/* The name that bg-common.h's messages start with. */
const char bg_program_name[] = "bg-childtest";

static int syscall_bind(const char* proto, const char* text) {
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(text, &address);
    const int type = strcmp(proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    const int fd = socket(address.ss_family, type, 0);
    if (fd < 0) bg_die("socket");
    errno = 0;
    const long ret = syscall(SYS_bind, fd, (struct sockaddr*)&address, length);
    const int error = ret == 0 ? 0 : errno;
    char local[128];
    bg_local_text(fd, local, sizeof local);
    printf("ret=%ld errno=%d local=%s\n", ret, error, local);
    return 0;
}

static int syscall_bind_badfd(void) {
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address("0.0.0.0:0", &address);
    const long ret = syscall(SYS_bind, -1, (struct sockaddr*)&address, length);
    printf("ret=%ld errno=%d\n", ret, ret == 0 ? 0 : errno);
    return 0;
}

static void report_listen(int fd, long ret, int error) {
    char local[128];
    bg_local_text(fd, local, sizeof local);
    printf("ret=%ld errno=%d listening=%d local=%s\n", ret, error, bg_is_listening(fd), local);
}

static int syscall_listen_unbound(void) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) bg_die("socket");
    const long ret = syscall(SYS_listen, fd, 16);
    report_listen(fd, ret, ret == 0 ? 0 : errno);
    return 0;
}

static int syscall_listen_rawbound(const char* text) {
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(text, &address);
    const int fd = socket(address.ss_family, SOCK_STREAM, 0);
    if (fd < 0) bg_die("socket");
    const long bound = bg_raw_bind(fd, (struct sockaddr*)&address, length);
    if (bound != 0) {
        errno = (int)-bound;
        bg_die("raw bind");
    }
    const long ret = syscall(SYS_listen, fd, 16);
    report_listen(fd, ret, ret == 0 ? 0 : errno);
    return 0;
}

/* A temporary file with content; unlinked at once. */
static int temp_file(const char* content) {
    char path[] = "/tmp/bg-childtest-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) bg_die("mkstemp");
    unlink(path);
    const size_t length = strlen(content);
    if (write(fd, content, length) != (ssize_t)length) bg_die("write");
    return fd;
}

/* copy_file_range(fd_in, &off_in, fd_out, &off_out, len, flags): every argument
   shows in the result — the data comes from fd_in at off_in, lands in fd_out at
   off_out, both offsets advance by len, and flags != 0 is refused (EINVAL). */
static int syscall_six(void) {
    const int in = temp_file("0123456789abcdefghij");
    const int out = temp_file("..........");
    loff_t off_in = 3, off_out = 5;
    const long ret = syscall(SYS_copy_file_range, in, &off_in, out, &off_out, 4L, 0L);
    if (ret < 0) bg_die("copy_file_range");
    char data[16] = {0};
    if (pread(out, data, 4, 5) != 4) bg_die("pread");
    loff_t again_in = 0, again_out = 0;
    errno = 0;
    const long flags_ret = syscall(SYS_copy_file_range, in, &again_in, out, &again_out, 4L, 1L);
    const int flags_errno = flags_ret == 0 ? 0 : errno;
    printf("ret=%ld off_in=%lld off_out=%lld data=%s flags_ret=%ld flags_errno=%d\n", ret, (long long)off_in,
           (long long)off_out, data, flags_ret, flags_errno);
    return 0;
}

static int syscall_close_badfd(void) {
    errno = 0;
    const long ret = syscall(SYS_close, -1);
    printf("ret=%ld errno=%d\n", ret, ret == 0 ? 0 : errno);
    return 0;
}

static int print_environment(void) {
    const char* names[] = {"LD_PRELOAD", "BINDGUARD_POLICY", "BINDGUARD_SERVICE", "ASAN_OPTIONS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
        const char* value = getenv(names[i]);
        if (value != NULL)
            printf("%s=%s\n", names[i], value);
        else
            printf("%s unset\n", names[i]);
    }
    int preload_entries = 0, extra = 0;
    for (char** entry = environ; *entry != NULL; ++entry) {
        if (strncmp(*entry, "LD_PRELOAD=", 11) == 0) ++preload_entries;
        if (strncmp(*entry, "BGCT_X", 6) == 0) ++extra;
    }
    printf("preload_entries=%d extra=%d\n", preload_entries, extra);
    return 0;
}

/* The fresh envp of "given": PATH, BGCT_MARK=1, BGCT_ENV's entries, BGCT_EXTRA entries. */
static char** given_environment(void) {
    const char* extra_text = getenv("BGCT_EXTRA");
    const long extra = extra_text != NULL ? strtol(extra_text, NULL, 10) : 0;
    const char* added = getenv("BGCT_ENV");
    char** envp = calloc((size_t)extra + 64, sizeof *envp);
    if (envp == NULL) bg_die("calloc");
    size_t count = 0;
    envp[count++] = "PATH=/usr/bin:/bin";
    envp[count++] = "BGCT_MARK=1";
    if (added != NULL && *added != '\0') {
        char* copy = strdup(added);
        for (char* token = strtok(copy, ";"); token != NULL && count < 60; token = strtok(NULL, ";"))
            envp[count++] = token;
    }
    for (long i = 0; i < extra; ++i) {
        char* entry = malloc(48);
        if (entry == NULL) bg_die("malloc");
        snprintf(entry, 48, "BGCT_X%ld=%ld", i, i);
        envp[count++] = entry;
    }
    envp[count] = NULL;
    return envp;
}

/* argv as one shell command line, every word in single quotes. */
static char* shell_command(const char* file, char** argv) {
    size_t size = 1;
    for (char** word = argv; *word != NULL; ++word) size += 4 * strlen(*word) + 3;
    size += 4 * strlen(file) + 3;
    char* command = malloc(size);
    if (command == NULL) bg_die("malloc");
    char* out = command;
    for (size_t i = 0; argv[i] != NULL; ++i) {
        const char* word = i == 0 ? file : argv[i];
        if (i > 0) *out++ = ' ';
        *out++ = '\'';
        for (const char* c = word; *c != '\0'; ++c) {
            if (*c == '\'') {
                memcpy(out, "'\\''", 4);
                out += 4;
            } else {
                *out++ = *c;
            }
        }
        *out++ = '\'';
    }
    *out = '\0';
    return command;
}

static int searches_path(const char* entry) {
    return strcmp(entry, "execvp") == 0 || strcmp(entry, "execvpe") == 0 || strcmp(entry, "execlp") == 0 ||
           strcmp(entry, "posix_spawnp") == 0;
}

/* Runs ENTRY on file with argv (NULL-terminated, at most 6 arguments for the
   execl forms) and envp. Returns what the entry returns (it does not return
   on success for the exec forms; posix_spawn* store the pid in *pid). */
static int start(const char* entry, const char* file, char** argv, char** envp, pid_t* pid) {
    if (strcmp(entry, "execve") == 0 || strcmp(entry, "vfork-execve") == 0) return execve(file, argv, envp);
    if (strcmp(entry, "execv") == 0) return execv(file, argv);
    if (strcmp(entry, "execvp") == 0) return execvp(file, argv);
    if (strcmp(entry, "execvpe") == 0) return execvpe(file, argv, envp);
    if (strcmp(entry, "fexecve") == 0) {
        const int fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        return fexecve(fd, argv, envp);
    }
    if (strcmp(entry, "execveat") == 0) return execveat(AT_FDCWD, file, argv, envp, 0);
    if (strcmp(entry, "posix_spawn") == 0) return posix_spawn(pid, file, NULL, NULL, argv, envp);
    if (strcmp(entry, "posix_spawnp") == 0) return posix_spawnp(pid, file, NULL, NULL, argv, envp);
    if (strcmp(entry, "system") == 0) {
        const int status = system(shell_command(file, argv));
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    size_t argc = 0;
    while (argv[argc] != NULL) ++argc;
    if (argc > 6) bg_usage("at most 6 arguments for the execl forms");
    const char* a[7] = {0};
    for (size_t i = 0; i < argc; ++i) a[i] = argv[i];
    /* The list always ends with a NULL; the unused slots are NULL too, so the
       list ends at the first of them. */
    if (strcmp(entry, "execl") == 0) return execl(file, a[0], a[1], a[2], a[3], a[4], a[5], (char*)NULL);
    if (strcmp(entry, "execlp") == 0) return execlp(file, a[0], a[1], a[2], a[3], a[4], a[5], (char*)NULL);
    if (strcmp(entry, "execle") == 0) return execle(file, a[0], a[1], a[2], a[3], a[4], a[5], (char*)NULL, envp);
    bg_usage("unknown ENTRY");
    return -1;
}

/* The environment for a mode: "given" (fresh) or "current" (cleaned). */
static char** environment_for(const char* mode) {
    if (strcmp(mode, "given") == 0) return given_environment();
    if (strcmp(mode, "current") != 0) bg_usage("the environment is given or current");
    unsetenv("LD_PRELOAD");
    unsetenv("BINDGUARD_POLICY");
    unsetenv("BINDGUARD_SERVICE");
    const char* added = getenv("BGCT_ENV");
    if (added != NULL && *added != '\0') {
        char* copy = strdup(added);
        for (char* token = strtok(copy, ";"); token != NULL; token = strtok(NULL, ";")) putenv(token);
    }
    return environ;
}

static int exec_program(const char* entry, const char* mode, char** program_argv) {
    char* file = program_argv[0];
    if (searches_path(entry)) {
        char* copy = strdup(program_argv[0]);
        if (setenv("PATH", dirname(copy), 1) != 0) bg_die("setenv");
        file = basename(program_argv[0]);
    }
    char** envp = environment_for(mode);
    fflush(stdout);
    pid_t pid = -1;
    if (strcmp(entry, "system") == 0) return start(entry, file, program_argv, envp, NULL);
    if (strncmp(entry, "posix_spawn", 11) == 0) {
        const int error = start(entry, file, program_argv, envp, &pid);
        if (error != 0) {
            errno = error;
            bg_die(entry);
        }
    } else {
        pid = strcmp(entry, "vfork-execve") == 0 ? vfork() : fork();
        if (pid < 0) bg_die("fork");
        if (pid == 0) {
            start(entry, file, program_argv, envp, NULL);
            _exit(127);
        }
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid) bg_die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int exec_fail(const char* entry, const char* mode) {
    /* PATH first: setenv may move the environment array. fexecve gets a file
       that opens but cannot be executed (EACCES). */
    if (searches_path(entry)) setenv("PATH", "/nonexistent", 1);
    const char* file = searches_path(entry)               ? "bg-child-missing"
                       : strcmp(entry, "fexecve") == 0 ? "/dev/null"
                                                         : "/nonexistent/bg-child-missing";
    char** envp = environment_for(mode);
    size_t count = 0;
    while (envp[count] != NULL) ++count;
    /* A snapshot of the array and of its strings. */
    char** pointers = malloc((count + 1) * sizeof *pointers);
    char** texts = malloc((count + 1) * sizeof *texts);
    if (pointers == NULL || texts == NULL) bg_die("malloc");
    for (size_t i = 0; i <= count; ++i) {
        pointers[i] = envp[i];
        texts[i] = envp[i] != NULL ? strdup(envp[i]) : NULL;
    }
    char* argv[] = {"bg-child-missing", "one", "two", NULL};
    pid_t pid = -1;
    errno = 0;
    const int ret = start(entry, file, argv, envp, &pid);
    const int error = errno;
    if (strncmp(entry, "posix_spawn", 11) == 0 && ret == 0) waitpid(pid, NULL, 0);
    int intact = 1;
    for (size_t i = 0; i <= count; ++i)
        if (envp[i] != pointers[i] || (texts[i] != NULL && strcmp(envp[i], texts[i]) != 0)) intact = 0;
    printf("ret=%d errno=%d envp_intact=%d\n", ret, error, intact);
    return 0;
}

static int system_status(const char* command, int cleaned) {
    if (cleaned) unsetenv("LD_PRELOAD");
    errno = 0;
    const int status = system(strcmp(command, "null") == 0 ? NULL : command);
    printf("status=%d\n", status);
    return 0;
}

/* VmRSS of this process in KiB, from /proc/self/status. */
static long resident_kib(void) {
    FILE* status = fopen("/proc/self/status", "r");
    if (status == NULL) bg_die("fopen /proc/self/status");
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, status) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0) kib = strtol(line + 6, NULL, 10);
    fclose(status);
    return kib;
}

static int spawn_loop(long count, const char* entry, char* program) {
    char* argv[] = {program, NULL};
    char* envp[] = {NULL};
    long warm = -1;
    int failures = 0;
    for (long i = 0; i < count; ++i) {
        if (i == count / 10) warm = resident_kib();
        pid_t pid = -1;
        if (strcmp(entry, "posix_spawn") == 0) {
            if (posix_spawn(&pid, program, NULL, NULL, argv, envp) != 0) pid = -1;
        } else {
            pid = strcmp(entry, "vfork-execve") == 0 ? vfork() : fork();
            if (pid == 0) {
                execve(program, argv, envp);
                _exit(127);
            }
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
    }
    printf("rss_warm=%ld rss_end=%ld failures=%d\n", warm, resident_kib(), failures);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 2) bg_usage("no scenario");
    const char* scenario = argv[1];
    if (strcmp(scenario, "syscall-bind") == 0 && argc == 4) return syscall_bind(argv[2], argv[3]);
    if (strcmp(scenario, "syscall-bind-badfd") == 0) return syscall_bind_badfd();
    if (strcmp(scenario, "syscall-listen-unbound") == 0) return syscall_listen_unbound();
    if (strcmp(scenario, "syscall-listen-rawbound") == 0 && argc == 3) return syscall_listen_rawbound(argv[2]);
    if (strcmp(scenario, "syscall-getpid") == 0) {
        printf("getpid=%ld syscall=%ld\n", (long)getpid(), syscall(SYS_getpid));
        return 0;
    }
    if (strcmp(scenario, "syscall-six") == 0) return syscall_six();
    if (strcmp(scenario, "syscall-close-badfd") == 0) return syscall_close_badfd();
    if (strcmp(scenario, "printenv") == 0) return print_environment();
    if (strcmp(scenario, "exec") == 0 && argc >= 5) return exec_program(argv[2], argv[3], argv + 4);
    if (strcmp(scenario, "system-status") == 0 && (argc == 3 || argc == 4))
        return system_status(argv[2], argc == 4 && strcmp(argv[3], "cleaned") == 0);
    if (strcmp(scenario, "spawn-loop") == 0 && argc == 5) return spawn_loop(atol(argv[2]), argv[3], argv[4]);
    if (strcmp(scenario, "exec-fail") == 0 && argc == 4) return exec_fail(argv[2], argv[3]);
    bg_usage("unknown scenario or wrong arguments");
    return 2;
}
