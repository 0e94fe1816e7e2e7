/* bindguard-bench-noop: a program that does nothing, so that starting it measures only
 * the start-up of a dynamically linked C program (and, preloaded, of libbindguard.so).
 *
 *   bindguard-bench-noop           exits 0 at once
 *   bindguard-bench-noop --pause   writes "ready\n" to stdout, then waits until a signal
 *                                  ends it, so that /proc/PID/smaps can be read (bench/compare)
 */
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "--pause") == 0) {
        static const char ready[] = "ready\n";
        if (write(STDOUT_FILENO, ready, sizeof ready - 1) != (ssize_t)(sizeof ready - 1)) return 1;
        for (;;) pause();
    }
    return 0;
}
