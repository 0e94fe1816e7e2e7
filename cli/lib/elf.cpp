// ELF inspection with pread(2): only the headers are read, never the whole file.
#include "elf.hpp"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace bindguard::cli {
namespace {

// An open file descriptor, closed on scope exit.
struct FileHandle {
    int fd = -1;
    ~FileHandle() {
        if (fd >= 0) ::close(fd);
    }
};

// Reads exactly size bytes at offset. Returns false when the file is shorter or read fails.
bool read_at(int fd, void* out, std::size_t size, std::uint64_t offset) {
    auto* bytes = static_cast<char*>(out);
    while (size > 0) {
        ssize_t n = ::pread(fd, bytes, size, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes += n;
        size -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

// Reads a NUL-terminated string of at most max bytes at offset. Returns "" on failure.
std::string read_string_at(int fd, std::uint64_t offset, std::size_t max) {
    std::string text(max, '\0');
    ssize_t n = ::pread(fd, text.data(), max, static_cast<off_t>(offset));
    if (n <= 0) return "";
    text.resize(static_cast<std::size_t>(n));
    return text.substr(0, text.find('\0'));
}

// True when name is a section that only the Go toolchain writes.
bool is_go_section(const std::string& name) {
    return name == ".note.go.buildid" || name == ".go.buildinfo" || name == ".gopclntab";
}

// True when the PT_NOTE segment at offset (size bytes) holds a note owned by "Go" (the
// Go toolchain's build ID note, kept even where section headers are stripped).
bool has_go_note(int fd, std::uint64_t offset, std::uint64_t size) {
    std::vector<unsigned char> notes(size < 4096 ? size : 4096);
    if (notes.empty() || !read_at(fd, notes.data(), notes.size(), offset)) return false;
    std::size_t at = 0;
    auto align4 = [](std::size_t n) { return (n + 3) & ~std::size_t{3}; };
    while (at + 12 <= notes.size()) {
        std::uint32_t name_size = 0, desc_size = 0;
        std::memcpy(&name_size, &notes[at], 4);
        std::memcpy(&desc_size, &notes[at + 4], 4);
        std::size_t name_at = at + 12;
        if (name_size > notes.size() - name_at) return false;
        bool go_name = (name_size == 3 || name_size == 4) && std::memcmp(&notes[name_at], "Go\0", 3) == 0;
        if (go_name) return true;  // Go writes "Go\0\0" (namesz 4)
        at = name_at + align4(name_size) + align4(desc_size);
    }
    return false;
}

// Fills facts from the program and section headers of a native-endian ELF file of
// one class. Returns false (error set) when the headers cannot be read.
template <class Ehdr, class Phdr, class Shdr>
bool read_headers(int fd, ElfFacts& facts, std::string& error) {
    Ehdr header{};
    if (!read_at(fd, &header, sizeof header, 0)) {
        error = "truncated ELF header";
        return false;
    }
    facts.machine = header.e_machine;
    for (unsigned i = 0; i < header.e_phnum; ++i) {
        Phdr program{};
        if (!read_at(fd, &program, sizeof program, header.e_phoff + std::uint64_t{i} * header.e_phentsize)) {
            error = "truncated ELF program headers";
            return false;
        }
        if (program.p_type == PT_NOTE && has_go_note(fd, program.p_offset, program.p_filesz)) facts.go = true;
        if (program.p_type == PT_INTERP) {
            facts.has_interpreter = true;
            facts.interpreter = read_string_at(fd, program.p_offset, program.p_filesz < 4096 ? program.p_filesz : 4096);
        }
    }
    if (header.e_shnum == 0 || header.e_shstrndx == SHN_UNDEF || header.e_shstrndx >= header.e_shnum) return true;
    Shdr names{};
    if (!read_at(fd, &names, sizeof names, header.e_shoff + std::uint64_t{header.e_shstrndx} * header.e_shentsize))
        return true;  // section headers are optional for execution; no Go evidence
    for (unsigned i = 0; i < header.e_shnum && !facts.go; ++i) {
        Shdr section{};
        if (!read_at(fd, &section, sizeof section, header.e_shoff + std::uint64_t{i} * header.e_shentsize)) break;
        facts.go = is_go_section(read_string_at(fd, names.sh_offset + section.sh_name, 32));
    }
    return true;
}

}  // namespace

std::optional<ElfFacts> inspect_elf(const std::string& path, std::string& error) {
    FileHandle file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) {
        error = std::strerror(errno);
        return std::nullopt;
    }
    unsigned char ident[EI_NIDENT] = {};
    ElfFacts facts;
    if (!read_at(file.fd, ident, sizeof ident, 0) || std::memcmp(ident, ELFMAG, SELFMAG) != 0) return facts;
    facts.is_elf = true;
    facts.elf_class = ident[EI_CLASS];
    facts.data_encoding = ident[EI_DATA];
    const int native = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
    if (facts.data_encoding != native) return facts;  // foreign: cannot run here with our library anyway
    bool ok = facts.elf_class == ELFCLASS64 ? read_headers<Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr>(file.fd, facts, error)
            : facts.elf_class == ELFCLASS32 ? read_headers<Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr>(file.fd, facts, error)
                                            : (error = "unknown ELF class", false);
    if (!ok) return std::nullopt;
    return facts;
}

}  // namespace bindguard::cli
