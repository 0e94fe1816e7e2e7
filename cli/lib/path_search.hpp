// Finding a command the way a POSIX shell does.
#pragma once

#include <string>

namespace bindguard::cli {

struct ResolvedCommand {
    std::string path;  // what to execute (when error == 0)
    int error = 0;     // 0; ENOENT (not found); EACCES or EISDIR (found but not executable)
};

// A command containing '/' is taken as is; otherwise each directory of PATH (or of
// confstr(_CS_PATH) when PATH is unset; an empty entry is the current directory) is
// searched for an executable regular file. Returns the path, or the error a shell reports.
ResolvedCommand resolve_command(const std::string& command);

}  // namespace bindguard::cli
