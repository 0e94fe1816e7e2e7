/* bg-common: the pieces that the C test helpers (bg-bindtest, bg-childtest)
 * share — failing their own setup, reading an ADDR argument, describing a
 * socket, and binding by the raw system call instruction.
 *
 * Each program defines bg_program_name (e.g. "bg-bindtest"); the messages
 * start with it and point at the comment at the top of its source file. */
#ifndef BG_COMMON_H
#define BG_COMMON_H

#include <stddef.h>
#include <sys/socket.h>

/* The program's own name, defined by each helper program. */
extern const char bg_program_name[];

/* Prints "PROGRAM: what: strerror(errno)" on stderr and exits 2. Does not return. */
_Noreturn void bg_die(const char* what);

/* Prints "PROGRAM: message (see the comment at the top of PROGRAM.c)" on stderr
 * and exits 2. Does not return. */
_Noreturn void bg_usage(const char* message);

/* Parses ADDR (A.B.C.D:P or [v6]:P) into storage; returns its length. A bad ADDR
 * is a usage error (exit 2). */
socklen_t bg_parse_address(const char* text, struct sockaddr_storage* storage);

/* Writes the local address of fd as text into out: 127.0.0.1:P, [::1]:P, a unix
 * path, "familyN" for other families, or "-" when there is none. Returns nothing. */
void bg_local_text(int fd, char* out, size_t size);

/* Returns 1 when fd is a listening socket, 0 otherwise (or when it cannot tell). */
int bg_is_listening(int fd);

/* The bind system call without any libc symbol: nothing preloaded can see it.
 * Returns 0 or -errno. */
long bg_raw_bind(int fd, const struct sockaddr* address, socklen_t length);

#endif
