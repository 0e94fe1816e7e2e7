// The policy lookup shared by every command.
#include "policy_source.hpp"

#include "bindguard/compile.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>

#include <ostream>

namespace bindguard::cli {

PolicySource locate_policy(const std::string& explicit_path) {
    if (!explicit_path.empty()) return {explicit_path, "--policy"};
    const char* from_env = ::getenv("BINDGUARD_POLICY");
    if (from_env != nullptr && *from_env != '\0') return {from_env, "BINDGUARD_POLICY"};
    // As the library does: anything at that path (even a dangling symlink), or a path that
    // cannot be examined, names the system policy; only "no such file" means there is none.
    struct stat status{};
    if (::lstat(kSystemPolicyPath, &status) == 0 || errno != ENOENT) return {kSystemPolicyPath, kSystemPolicyPath};
    return {"", "built-in"};
}

LoadResult load_policy(const PolicySource& source) {
    if (source.path.empty()) return LoadResult{builtin_policy(), {}};
    return load_policy_file(source.path);
}

void print_diagnostics(const std::vector<Diagnostic>& diagnostics, std::ostream& out) {
    for (const Diagnostic& diagnostic : diagnostics) out << diagnostic.to_string() << '\n';
}

ReportedPolicy load_and_report_policy(const std::string& explicit_path, std::ostream& diagnostics_out) {
    ReportedPolicy reported{locate_policy(explicit_path), {}};
    reported.loaded = load_policy(reported.source);
    print_diagnostics(reported.loaded.diagnostics, diagnostics_out);
    return reported;
}

std::string ensure_compiled(const PolicySource& source, std::ostream& messages_out) {
    if (source.path.empty()) return {};
    const std::string name = image::source_name(source.path);
    if (image::find_image(name).freshness == image::Freshness::fresh) return {};
    const image::CompileOutcome outcome = image::compile_file(name);
    if (!outcome.ok) {
        print_diagnostics(outcome.diagnostics, messages_out);
        return outcome.error.empty() ? "it does not compile" : outcome.error;
    }
    messages_out << "bindguard: compiled " << outcome.source << " -> " << outcome.image_path << '\n';
    return {};
}

std::string image_warning(const std::string& path) {
    if (path.empty()) return {};
    const std::string source = image::source_name(path);
    const image::ImageStatus status = image::find_image(source);
    if (status.freshness == image::Freshness::fresh || status.freshness == image::Freshness::missing) return {};
    return path + ":1:1: warning: its compiled image " + status.path + " " +
           (status.freshness == image::Freshness::stale ? "is stale (" + status.detail + ")" : status.detail) +
           ": processes that use it deny every non-loopback bind until `bindguard compile " + source + "`";
}

}  // namespace bindguard::cli
