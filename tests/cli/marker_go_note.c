/* bg-cli-marker-go-note: the marker program with an ELF note owned by "Go" (type 4, the
 * Go build ID note) in a PT_NOTE segment, under a section name no Go toolchain uses:
 * what a Go binary looks like to `bindguard run` once its section names are gone. */
__asm__(".pushsection .note.bgtest, \"a\", @note\n"
        ".balign 4\n"
        ".long 4\n"          /* namesz: "Go\0\0" */
        ".long 8\n"          /* descsz */
        ".long 4\n"          /* type: ELF_NOTE_GOBUILDID_TAG */
        ".ascii \"Go\\0\\0\"\n"
        ".ascii \"fake-id\\0\"\n"
        ".popsection\n");

#include "marker.c"
