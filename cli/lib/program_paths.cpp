// Rules' program paths on this machine: warnings, and resolving paths (see program_paths.hpp).
#include "program_paths.hpp"

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <limits.h>
#include <stdlib.h>

namespace bindguard::cli {

std::vector<Diagnostic> program_path_warnings(const Policy& policy) {
    std::vector<Diagnostic> warnings;
    for (const Rule& rule : policy.rules) {
        if (!rule.program || rule.program->find_first_of("*?[\\") != std::string::npos) continue;
        char resolved[PATH_MAX];
        if (::realpath(rule.program->c_str(), resolved) == nullptr || *rule.program == resolved) continue;
        warnings.push_back(Diagnostic{
            Diagnostic::Severity::warning, policy.source, rule.position,
            "[[rule]] \"" + rule.name + "\": program \"" + *rule.program + "\" resolves to \"" + resolved +
                "\" (a symlink); rules match the resolved path (/proc/PID/exe), so this rule never matches: use program = \"" +
                resolved + "\""});
    }
    return warnings;
}

std::string resolved_program(const std::string& program) {
    char resolved[PATH_MAX];
    return ::realpath(program.c_str(), resolved) != nullptr ? std::string(resolved) : program;
}

std::string absolute(const std::string& path) {
    std::error_code error;
    std::filesystem::path result = std::filesystem::absolute(path, error);
    return error ? path : result.lexically_normal().string();
}

}  // namespace bindguard::cli
