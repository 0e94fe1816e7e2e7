// Which policy applies, found the same way the preload library finds it. The one place
// in cli/ that knows the lookup order; check, explain, run and audit all use it.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::cli {

inline constexpr const char* kSystemPolicyPath = "/etc/bindguard/policy.toml";

struct PolicySource {
    std::string path;      // the file; empty for the built-in policy
    std::string named_by;  // "--policy", "BINDGUARD_POLICY", kSystemPolicyPath or "built-in"
};

// explicit_path when non-empty; else BINDGUARD_POLICY when set and non-empty; else
// /etc/bindguard/policy.toml when anything is at that path (lstat, like the library) or it
// cannot be examined; else the built-in policy. Returns where it is.
PolicySource locate_policy(const std::string& explicit_path);

// Loads the policy from source. Returns the parse result (the built-in one always loads).
LoadResult load_policy(const PolicySource& source);

// Writes each diagnostic as one "FILE:LINE:COL: error|warning: ..." line to out.
void print_diagnostics(const std::vector<Diagnostic>& diagnostics, std::ostream& out);

// A policy that a command located and loaded, and where it came from.
struct ReportedPolicy {
    PolicySource source;
    LoadResult loaded;
};

// What audit, explain and run do first: locate_policy(explicit_path), load_policy() it and
// write its diagnostics (errors and warnings) to diagnostics_out. Returns both; what an
// invalid policy means (message, exit code) stays with the command.
ReportedPolicy load_and_report_policy(const std::string& explicit_path, std::ostream& diagnostics_out);

// For the commands that start or attach protected programs (run, protect, kernel attach):
// makes sure the library will find a fresh compiled image of source (a valid policy
// file), compiling it when its image is missing, stale or damaged, and saying so on
// messages_out. Returns "" when it is ready, else why not (no place to write it).
// The built-in policy needs nothing.
std::string ensure_compiled(const PolicySource& source, std::ostream& messages_out);

// "FILE:1:1: warning: its compiled image IMAGE is stale (...): ..." when the image the
// library would map for the policy file at path is stale or damaged; "" when it is fresh
// or missing (check and audit say it; they never write one).
std::string image_warning(const std::string& path);

}  // namespace bindguard::cli
