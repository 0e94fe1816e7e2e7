// Warnings about rules' program paths on this machine (see program_paths.hpp).
#include "program_paths.hpp"

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

}  // namespace bindguard::cli
