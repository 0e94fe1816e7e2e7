// Checks of a policy against this machine's files, which the policy library (pure, and
// shared with the preload library) does not make: `bindguard check` and `explain` print them.
#pragma once

#include <vector>

#include "bindguard/policy.hpp"

namespace bindguard::cli {

// A warning for each rule whose `program` is a literal path (no glob characters) that is
// not the resolved path - a symlink, or under one (Debian's /usr/bin/redis-server ->
// redis-check-rdb): rules match the resolved /proc/PID/exe, so such a rule never matches.
// Each names the resolved path to use. Returns them (empty for a missing file: it may
// exist only on the machine the policy is for).
std::vector<Diagnostic> program_path_warnings(const Policy& policy);

}  // namespace bindguard::cli
