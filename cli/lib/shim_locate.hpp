// Where the preload library that belongs to this `bindguard` is, and whether it loads.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bindguard::cli {

struct ShimLocation {
    std::string path;     // absolute and canonical when found; the path looked at otherwise
    std::string problem;  // empty when the file exists; else why it was not found
    bool from_env = false;  // BINDGUARD_SHIM named it
};

// BINDGUARD_SHIM when set and non-empty, else dirname(realpath(/proc/self/exe)) joined
// with BINDGUARD_SHIM_RELPATH; canonicalised with realpath(3). Returns the location;
// `problem` is set (and `path` is the uncanonicalised candidate) when the file is missing.
ShimLocation locate_shim();

// Tries dlopen(path, RTLD_NOW | RTLD_LOCAL) in a forked child, so that this process is
// left untouched. Returns nullopt when it loads, else the reason (dlerror() text).
std::optional<std::string> shim_load_error(const std::string& path);

// Splits an LD_PRELOAD value (the loader accepts ':' and ' ' as separators). Returns the
// non-empty entries.
std::vector<std::string> preload_entries(const std::string& value);

// True when entry names the same library as shim: another libbindguard.so, a file of the
// same name as shim, or a path that resolves to shim (realpath(3)).
bool is_same_shim(const std::string& entry, const std::string& shim);

// The LD_PRELOAD for a program (`run`) or a unit (`protect`): shim first, then the entries
// of existing (the environment's, the unit's Environment=) but other copies of the
// library. Returns it.
std::string composed_preload(const std::string& shim, const std::optional<std::string>& existing);

}  // namespace bindguard::cli
