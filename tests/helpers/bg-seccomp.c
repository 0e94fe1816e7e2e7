/* bg-seccomp: runs a program under a seccomp filter that makes some system
 * calls fail with EPERM, the way a container runtime's or a service manager's
 * filter does. The filter is inherited across execve(), so the program (and the
 * preload library inside it) sees the failures.
 *
 *   bg-seccomp NAME[,NAME...] PROGRAM [ARG...]
 *
 * NAME is getsockopt, getsockname or setsockopt. Exit 2 when its own setup
 * fails; otherwise it becomes PROGRAM. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bg-common.h"

const char bg_program_name[] = "bg-seccomp";

#if defined(__x86_64__)
#define BG_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define BG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "bg-seccomp: add this architecture's AUDIT_ARCH"
#endif

static long number_of(const char* name) {
    if (strcmp(name, "getsockopt") == 0) return SYS_getsockopt;
    if (strcmp(name, "getsockname") == 0) return SYS_getsockname;
    if (strcmp(name, "setsockopt") == 0) return SYS_setsockopt;
    bg_usage("NAME must be getsockopt, getsockname or setsockopt");
}

int main(int argc, char** argv) {
    if (argc < 3) bg_usage("bg-seccomp NAME[,NAME...] PROGRAM [ARG...]");
    long numbers[8];
    int count = 0;
    char names[256];
    snprintf(names, sizeof names, "%s", argv[1]);
    for (char* name = strtok(names, ","); name != NULL && count < 8; name = strtok(NULL, ","))
        numbers[count++] = number_of(name);

    struct sock_filter program[4 + 2 * 8 + 2];
    int n = 0;
    program[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, BG_AUDIT_ARCH, 1, 0);
    program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    program[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
    for (int i = 0; i < count; ++i) {
        program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)numbers[i], 0, 1);
        program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
    }
    program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog filter = {(unsigned short)n, program};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) bg_die("prctl PR_SET_NO_NEW_PRIVS");
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) != 0) bg_die("prctl PR_SET_SECCOMP");
    execvp(argv[2], argv + 2);
    bg_die("execvp");
}
