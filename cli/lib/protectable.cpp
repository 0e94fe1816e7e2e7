// Refusal reasons of `bindguard run`: static, Go, set-uid, set-gid, file capabilities,
// another ELF class/machine than the library; scripts are judged by their interpreter.
#include "protectable.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "path_search.hpp"

namespace bindguard::cli {
namespace {

constexpr const char* kKernelAdvice =
    "protect it at the kernel level instead: `bindguard run --kernel` (the same policy, applied by the "
    "kernel to every bind of the program), or systemd's SocketBindAllow=/SocketBindDeny= and IPAddressDeny=; "
    "or use --force to run it unprotected";
constexpr int kMaxScriptNesting = 4;  // the kernel allows a few levels of interpreters

// The "#!" line of path split into words (interpreter first). Returns an empty vector
// when the file does not start with "#!" or cannot be read.
std::vector<std::string> shebang_words(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    char buf[256] = {};  // the kernel reads at most this much of the line too
    ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n < 2 || buf[0] != '#' || buf[1] != '!') return {};
    std::string line(buf + 2, static_cast<std::size_t>(n) - 2);
    line = line.substr(0, line.find('\n'));
    std::istringstream words_in(line);
    std::vector<std::string> words;
    for (std::string word; words_in >> word;) words.push_back(word);
    return words;
}

// The program "/usr/bin/env [-S] [OPTION|NAME=VALUE]... NAME ..." runs, looked up on PATH.
// Returns its path, or "" when there is none or it cannot be found.
std::string env_target(const std::vector<std::string>& words) {
    for (std::size_t i = 1; i < words.size(); ++i) {
        const std::string& word = words[i];
        if (word.starts_with("-") || word.find('=') != std::string::npos) continue;
        ResolvedCommand resolved = resolve_command(word);
        return resolved.error == 0 ? resolved.path : "";
    }
    return "";
}

// The interpreter that runs the script at path. Returns "" when path is not a script.
std::string script_interpreter(const std::string& path) {
    std::vector<std::string> words = shebang_words(path);
    if (words.empty()) return "";
    const std::string& interpreter = words.front();
    bool via_env = interpreter == "/usr/bin/env" || interpreter == "/bin/env";
    if (via_env) {
        std::string target = env_target(words);
        if (!target.empty()) return target;
    }
    return interpreter;
}

// A problem about the file's mode or attributes (set-uid, set-gid, capabilities).
// Returns nullopt when there is none.
std::optional<ProtectionProblem> privilege_problem(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;  // exec will report it
    if (st.st_mode & S_ISUID)
        return ProtectionProblem{path, "is set-uid, and the loader ignores LD_PRELOAD for set-uid programs",
                                 std::string("remove the bit (chmod u-s) if it is not needed, or ") + kKernelAdvice};
    if ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP))
        return ProtectionProblem{path, "is set-gid, and the loader ignores LD_PRELOAD for set-gid programs",
                                 std::string("remove the bit (chmod g-s) if it is not needed, or ") + kKernelAdvice};
    if (::getxattr(path.c_str(), "security.capability", nullptr, 0) >= 0)
        return ProtectionProblem{path,
                                 "has file capabilities (see getcap), and the loader ignores LD_PRELOAD for them",
                                 std::string("remove them (setcap -r) if they are not needed, or ") + kKernelAdvice};
    return std::nullopt;
}

// The name of an ELF machine number, e.g. "x86-64". Returns "machine N" for others.
std::string machine_name(int machine) {
    switch (machine) {
        case EM_X86_64: return "x86-64";
        case EM_386: return "i386";
        case EM_AARCH64: return "aarch64";
        case EM_ARM: return "arm";
        case EM_RISCV: return "riscv";
        case EM_PPC64: return "ppc64";
        case EM_S390: return "s390";
        default: return "machine " + std::to_string(machine);
    }
}

// "64-bit x86-64"-like description of an ELF class and machine, for messages.
std::string describe_elf_kind(const ElfFacts& facts) {
    std::string bits = facts.elf_class == ELFCLASS64 ? "64-bit" : facts.elf_class == ELFCLASS32 ? "32-bit" : "unknown-class";
    return bits + " " + machine_name(facts.machine);
}

// A problem found in the ELF headers of path. Returns nullopt when there is none
// (including a file that is not ELF: exec decides what happens to it).
std::optional<ProtectionProblem> elf_problem(const std::string& path, const ElfFacts& shim) {
    if (::access(path.c_str(), F_OK) != 0) return std::nullopt;  // a missing interpreter: exec reports it
    std::string error;
    std::optional<ElfFacts> facts = inspect_elf(path, error);
    if (!facts)
        return ProtectionProblem{path, "cannot be inspected (" + error + "), so bindguard cannot tell whether the preload applies",
                                 kKernelAdvice};
    if (!facts->is_elf) return std::nullopt;
    if (facts->elf_class != shim.elf_class || facts->data_encoding != shim.data_encoding || facts->machine != shim.machine)
        return ProtectionProblem{path,
                                 "is a " + describe_elf_kind(*facts) + " program but the library is " +
                                     describe_elf_kind(shim) + ", so the loader would skip the library",
                                 kKernelAdvice};
    if (facts->go)
        return ProtectionProblem{path, "is a Go program; Go makes its own system calls, so LD_PRELOAD cannot intercept its binds",
                                 kKernelAdvice};
    if (!facts->has_interpreter)
        return ProtectionProblem{path, "is statically linked (no ELF interpreter), so LD_PRELOAD cannot load the library into it",
                                 kKernelAdvice};
    return std::nullopt;
}

}  // namespace

std::optional<ProtectionProblem> protection_problem(const std::string& program, const ElfFacts& shim) {
    std::string current = program;
    for (int depth = 0; depth <= kMaxScriptNesting; ++depth) {
        std::string interpreter = script_interpreter(current);
        if (interpreter.empty()) break;
        current = interpreter;
    }
    if (auto problem = privilege_problem(current)) return problem;
    if (auto problem = elf_problem(current, shim)) return problem;
    return std::nullopt;
}

}  // namespace bindguard::cli
