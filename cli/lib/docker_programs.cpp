// docker_program() and docker_refusal_reason(): see docker_programs.hpp.
#include "docker_programs.hpp"

#include <limits.h>
#include <stdlib.h>

#include <vector>

#include "path_search.hpp"

namespace bindguard::cli {
namespace {

const char* const kDockerPrograms[] = {"dockerd", "containerd", "docker-proxy"};

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

const char* docker_program(const std::string& path) {
    std::vector<std::string> names = {basename_of(path)};
    ResolvedCommand resolved = resolve_command(path);
    char real[PATH_MAX];
    if (resolved.error == 0 && ::realpath(resolved.path.c_str(), real) != nullptr) names.push_back(basename_of(real));
    for (const char* program : kDockerPrograms)
        for (const std::string& name : names)
            if (name == program) return program;
    return nullptr;
}

std::string docker_refusal_reason(const std::string& program) {
    return "Docker publishes a container's ports with its own packet rules, which forward them from every interface "
           "of the host wherever " + program + "'s sockets are bound; rewriting those binds to loopback would hide a "
           "public port without closing it. Keep Docker's publishes on loopback with its authorization plugin "
           "instead: `bindguard protect docker` sets up `bindguard docker authz`, which refuses a container that "
           "would publish on a public address";
}

}  // namespace bindguard::cli
