// PATH search like a shell: first executable regular file wins.
#include "path_search.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace bindguard::cli {
namespace {

// Returns 0 when path is an executable regular file, else ENOENT, EISDIR or EACCES.
int executable_error(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return errno == EACCES ? EACCES : ENOENT;
    if (S_ISDIR(st.st_mode)) return EISDIR;
    if (!S_ISREG(st.st_mode) || ::access(path.c_str(), X_OK) != 0) return EACCES;
    return 0;
}

// The directories of PATH, in order. Returns "." for an empty entry.
std::vector<std::string> search_directories() {
    std::string path;
    if (const char* from_env = ::getenv("PATH"); from_env != nullptr) {
        path = from_env;
    } else {
        std::size_t size = ::confstr(_CS_PATH, nullptr, 0);
        path.resize(size);
        ::confstr(_CS_PATH, path.data(), size);
        path.resize(size > 0 ? size - 1 : 0);
    }
    std::vector<std::string> directories;
    std::size_t start = 0;
    for (;;) {
        std::size_t end = path.find(':', start);
        std::string entry = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
        directories.push_back(entry.empty() ? "." : entry);
        if (end == std::string::npos) return directories;
        start = end + 1;
    }
}

}  // namespace

ResolvedCommand resolve_command(const std::string& command) {
    if (command.find('/') != std::string::npos) return {command, executable_error(command)};
    ResolvedCommand first_unusable{"", ENOENT};
    for (const std::string& directory : search_directories()) {
        std::string candidate = directory + "/" + command;
        int error = executable_error(candidate);
        if (error == 0) return {candidate, 0};
        // Like a shell, a directory on PATH does not count; a non-executable file does.
        if (error == EACCES && first_unusable.error == ENOENT) first_unusable = {candidate, error};
    }
    return first_unusable;
}

}  // namespace bindguard::cli
