// The exported posix_spawn() and posix_spawnp(): the child starts with the
// library put back into its environment when needed (child_env.hpp). glibc's
// posix_spawn runs the exec itself (clone + internal execve), so it needs its
// own wrapper; the rebuilt environment lives in this frame until the next
// posix_spawn has returned, i.e. until the child has exec'd or failed.
//
// Return convention, as in posix_spawn(3): 0 with *pid set, or an error number
// (ENOSYS if the next function is missing); errno is not part of the contract.
#include <spawn.h>

#include <cerrno>

#include "child_env.hpp"

namespace bindguard::shim {
namespace {

using SpawnFunction = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
                              char* const*, char* const*);

int spawn_with(SpawnFunction next, pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
               const posix_spawnattr_t* attributes, char* const argv[], char* const envp[]) noexcept {
    if (next == nullptr) return ENOSYS;
    return with_child_environment(envp, FailureConvention::error_number, [&](char* const* env) {
        return next(pid, path, actions, attributes, argv, env);
    });
}

}  // namespace
}  // namespace bindguard::shim

// Declared without noexcept, as in <spawn.h> (they are cancellation points);
// nothing in them throws.
extern "C" __attribute__((visibility("default"))) int posix_spawn(pid_t* pid, const char* path,
                                                                  const posix_spawn_file_actions_t* actions,
                                                                  const posix_spawnattr_t* attributes,
                                                                  char* const argv[], char* const envp[]) {
    using namespace bindguard::shim;
    return spawn_with(next_exec_functions().posix_spawn, pid, path, actions, attributes, argv, envp);
}

extern "C" __attribute__((visibility("default"))) int posix_spawnp(pid_t* pid, const char* file,
                                                                   const posix_spawn_file_actions_t* actions,
                                                                   const posix_spawnattr_t* attributes,
                                                                   char* const argv[], char* const envp[]) {
    using namespace bindguard::shim;
    return spawn_with(next_exec_functions().posix_spawnp, pid, file, actions, attributes, argv, envp);
}
