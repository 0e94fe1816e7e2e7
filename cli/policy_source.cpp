// The policy lookup shared by every command.
#include "policy_source.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <ostream>

namespace bindguard::cli {

PolicySource locate_policy(const std::string& explicit_path) {
    if (!explicit_path.empty()) return {explicit_path, "--policy"};
    const char* from_env = ::getenv("BINDGUARD_POLICY");
    if (from_env != nullptr && *from_env != '\0') return {from_env, "BINDGUARD_POLICY"};
    if (::access(kSystemPolicyPath, F_OK) == 0) return {kSystemPolicyPath, kSystemPolicyPath};
    return {"", "built-in"};
}

LoadResult load_policy(const PolicySource& source) {
    if (source.path.empty()) return LoadResult{builtin_policy(), {}};
    return load_policy_file(source.path);
}

void print_diagnostics(const std::vector<Diagnostic>& diagnostics, std::ostream& out) {
    for (const Diagnostic& diagnostic : diagnostics) out << diagnostic.to_string() << '\n';
}

}  // namespace bindguard::cli
