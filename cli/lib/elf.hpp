// Reading what matters about an executable for LD_PRELOAD from its ELF headers.
#pragma once

#include <optional>
#include <string>

namespace bindguard::cli {

struct ElfFacts {
    bool is_elf = false;       // starts with \x7fELF (the other fields are meaningful only then)
    int elf_class = 0;         // ELFCLASS32 / ELFCLASS64
    int data_encoding = 0;     // ELFDATA2LSB / ELFDATA2MSB
    int machine = 0;           // e_machine
    bool has_interpreter = false;  // a PT_INTERP program header: loaded by ld.so
    std::string interpreter;       // its path
    bool go = false;           // built by the Go toolchain (a "Go" note; .note.go.buildid, .go.buildinfo, .gopclntab)
};

// Reads the ELF header, program headers and section names of path.
// Returns nullopt (error set to the reason) when the file cannot be read or its ELF
// headers are truncated; a non-ELF file gives ElfFacts{is_elf = false}.
std::optional<ElfFacts> inspect_elf(const std::string& path, std::string& error);

}  // namespace bindguard::cli
