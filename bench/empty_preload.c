/* libbindguard-bench-empty.so: a preload library that does nothing, the floor of
 * what any LD_PRELOAD library costs a process at start-up and in memory (the
 * target: bindguard's added start-up at most 1.5x this one's). Built like any small
 * shared library (PIC, libc only); bench/compare preloads it as the "empty" side.
 *
 * It exports one function that nothing calls, so that the loader has a symbol table
 * to read, as it has for every real preload library. */
int bindguard_bench_empty(void) { return 0; }
