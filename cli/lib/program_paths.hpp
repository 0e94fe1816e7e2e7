// Checks of a policy against this machine's files, which the policy library (pure, and
// shared with the preload library) does not make: `bindguard check` and `explain` print them.
#pragma once

#include <string>
#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::cli {

// A warning for each rule whose `program` is a literal path (no glob characters) that is
// not the resolved path - a symlink, or under one (Debian's /usr/bin/redis-server ->
// redis-check-rdb): rules match the resolved /proc/PID/exe, so such a rule never matches.
// Each names the resolved path to use. Returns them (empty for a missing file: it may
// exist only on the machine the policy is for).
std::vector<Diagnostic> program_path_warnings(const Policy& policy);

// The program's resolved path (symlinks followed), as a rule's `program` glob sees it;
// program itself when it cannot be resolved.
std::string resolved_program(const std::string& program);

// path made absolute against the current directory and normalised lexically ("a/./b" ->
// "a/b", "a/../b" -> "b"): symlinks are kept, never resolved, so a policy named through a
// symlink (/etc/bindguard/current.toml -> v2.toml) keeps its name and follows the link when
// it changes. Returns it; path itself when the current directory cannot be read. For every
// policy path that is handed on: BINDGUARD_POLICY of `run`, the drop-ins of `protect` and
// `protect docker`, and what `kernel attach`/`run --kernel` record for `kernel status`.
std::string absolute(const std::string& path);

}  // namespace bindguard::cli
