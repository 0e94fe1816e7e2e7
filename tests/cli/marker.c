/* bg-cli-marker: creates the file named by its last argument and exits 0, so that a
 * test can tell whether `bindguard run` started it. Built both dynamic and static. */
#include <stdio.h>

int main(int argc, char** argv) {
    if (argc < 2) return 3;
    FILE* marker = fopen(argv[argc - 1], "w");
    if (marker == NULL) return 4;
    fputs("started\n", marker);
    fclose(marker);
    return 0;
}
