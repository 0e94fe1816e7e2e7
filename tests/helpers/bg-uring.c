/* bg-uring: binds and listens through io_uring (IORING_OP_BIND, IORING_OP_LISTEN,
 * Linux 6.11+) with the raw io_uring system calls, no liburing, and prints
 *     bind_res=0 listen_res=0 listening=1 local=127.0.0.1:41234
 * (a result is 0 or -errno). Exit 0 when both requests ran (whatever their result),
 * 3 when the kernel does not know IORING_OP_BIND or IORING_OP_LISTEN (asked directly,
 * with IORING_REGISTER_PROBE: never guessed from a result), 2 when its own setup fails.
 * A bind that fails through the ring is tried once more with the plain system call on a
 * new socket, and both results are printed (syscall_res=0 or -errno), so that a caller can
 * tell a refused request from a ring that handles it differently.
 *
 * Usage: bg-uring ADDR [hold]    (ADDR: A.B.C.D:P or [v6]:P; hold: keep the socket
 *                                 until SIGTERM) */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bg-common.h"

const char bg_program_name[] = "bg-uring";

/* Not in the Linux 6.1 headers of Debian 12. */
enum { BG_IORING_OP_BIND = 56, BG_IORING_OP_LISTEN = 57 };

struct ring {
    int fd;
    struct io_uring_sqe* sqes;
    unsigned* sq_tail;
    unsigned* sq_mask;
    unsigned* sq_array;
    unsigned* cq_head;
    unsigned* cq_tail;
    unsigned* cq_mask;
    struct io_uring_cqe* cqes;
};

/* Sets up a ring of 4 entries. Dies on failure. */
static void ring_setup(struct ring* r) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    r->fd = (int)syscall(SYS_io_uring_setup, 4, &params);
    if (r->fd < 0) bg_die("io_uring_setup");
    size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    size_t size = sq_size > cq_size ? sq_size : cq_size; /* IORING_FEAT_SINGLE_MMAP */
    char* sq = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) bg_die("mmap sq ring");
    char* cq = sq;
    r->sqes = mmap(NULL, params.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (r->sqes == MAP_FAILED) bg_die("mmap sqes");
    r->sq_tail = (unsigned*)(sq + params.sq_off.tail);
    r->sq_mask = (unsigned*)(sq + params.sq_off.ring_mask);
    r->sq_array = (unsigned*)(sq + params.sq_off.array);
    r->cq_head = (unsigned*)(cq + params.cq_off.head);
    r->cq_tail = (unsigned*)(cq + params.cq_off.tail);
    r->cq_mask = (unsigned*)(cq + params.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe*)(cq + params.cq_off.cqes);
}

/* Whether the kernel knows the opcode: IORING_REGISTER_PROBE (Linux 5.6+; a kernel without
 * it has no IORING_OP_BIND either). Returns 1 or 0. */
static int ring_supports(const struct ring* r, unsigned opcode) {
    union {
        struct io_uring_probe probe;
        unsigned char bytes[sizeof(struct io_uring_probe) + 256 * sizeof(struct io_uring_probe_op)];
    } buffer;
    memset(&buffer, 0, sizeof buffer);
    if (syscall(SYS_io_uring_register, r->fd, IORING_REGISTER_PROBE, &buffer.probe, 256) < 0) return 0;
    return opcode <= buffer.probe.last_op && opcode < buffer.probe.ops_len &&
           (buffer.probe.ops[opcode].flags & IO_URING_OP_SUPPORTED) != 0;
}

/* Submits one request and waits for it. Returns its result (0 or -errno). */
static int ring_run(struct ring* r, const struct io_uring_sqe* request) {
    unsigned tail = *r->sq_tail;
    unsigned index = tail & *r->sq_mask;
    r->sqes[index] = *request;
    r->sq_array[index] = index;
    atomic_store_explicit((_Atomic unsigned*)r->sq_tail, tail + 1, memory_order_release);
    if (syscall(SYS_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) bg_die("io_uring_enter");
    unsigned head = *r->cq_head;
    while (head == atomic_load_explicit((_Atomic unsigned*)r->cq_tail, memory_order_acquire)) {
    }
    int result = r->cqes[head & *r->cq_mask].res;
    atomic_store_explicit((_Atomic unsigned*)r->cq_head, head + 1, memory_order_release);
    return result;
}

static void on_term(int signal_number) {
    (void)signal_number;
    _exit(0);
}

int main(int argc, char** argv) {
    if (argc < 2) bg_usage("bg-uring ADDR [hold]");
    struct sockaddr_storage address;
    const socklen_t length = bg_parse_address(argv[1], &address);
    const int hold = argc > 2 && strcmp(argv[2], "hold") == 0;
    const int fd = socket(address.ss_family, SOCK_STREAM, 0);
    if (fd < 0) bg_die("socket");
    struct ring ring;
    ring_setup(&ring);

    if (!ring_supports(&ring, BG_IORING_OP_BIND) || !ring_supports(&ring, BG_IORING_OP_LISTEN)) {
        printf("unsupported=1 (IORING_REGISTER_PROBE: no IORING_OP_BIND/IORING_OP_LISTEN in this kernel)\n");
        return 3;
    }

    struct io_uring_sqe bind_request;
    memset(&bind_request, 0, sizeof bind_request);
    bind_request.opcode = BG_IORING_OP_BIND;
    bind_request.fd = fd;
    bind_request.addr = (uint64_t)(uintptr_t)&address;
    bind_request.addr2 = length;
    const int bind_res = ring_run(&ring, &bind_request);
    int syscall_res = 0;
    if (bind_res != 0) {
        const int plain = socket(address.ss_family, SOCK_STREAM, 0);
        if (plain < 0) bg_die("socket");
        syscall_res = bind(plain, (const struct sockaddr*)&address, length) == 0 ? 0 : -errno;
        close(plain);
    }
    struct io_uring_sqe listen_request;
    memset(&listen_request, 0, sizeof listen_request);
    listen_request.opcode = BG_IORING_OP_LISTEN;
    listen_request.fd = fd;
    listen_request.len = 16;
    const int listen_res = bind_res == 0 ? ring_run(&ring, &listen_request) : 1;
    char local[256];
    bg_local_text(fd, local, sizeof local);
    if (bind_res != 0)
        printf("bind_res=%d syscall_res=%d listen_res=%d listening=%d local=%s\n", bind_res, syscall_res, listen_res,
               bg_is_listening(fd), local);
    else
        printf("bind_res=%d listen_res=%d listening=%d local=%s\n", bind_res, listen_res, bg_is_listening(fd), local);
    fflush(stdout);
    if (hold) {
        signal(SIGTERM, on_term);
        signal(SIGINT, on_term);
        for (;;) pause();
    }
    return 0;
}
