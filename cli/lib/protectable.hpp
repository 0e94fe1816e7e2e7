// Whether LD_PRELOAD can protect a program: the checks behind `bindguard run`'s refusals.
#pragma once

#include <optional>
#include <string>

#include "elf.hpp"

namespace bindguard::cli {

struct ProtectionProblem {
    std::string checked;  // the file found wanting: the program, or the interpreter of a script
    std::string reason;   // e.g. "is statically linked (no ELF interpreter), so ..."
    std::string advice;   // what to do instead
};

// Checks program (a path that exec would run) and, for a "#!" script, its interpreter
// (through "/usr/bin/env NAME" on PATH), against the library's ELF facts `shim`.
// Returns nullopt when the preload will apply, else the first problem found.
std::optional<ProtectionProblem> protection_problem(const std::string& program, const ElfFacts& shim);

}  // namespace bindguard::cli
