// The subcommands of `bindguard`. Each add_*_command() adds its subcommand to app and,
// when that subcommand is the one parsed, stores in `action` the function that runs it.
// The stored function returns the process exit status.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace bindguard::cli {

using CommandAction = std::function<int(const std::vector<std::string>& passthrough)>;

// Exit statuses shared by the commands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;   // invalid policy (check/explain), exposed socket (audit), reported mapping (compose-check)
inline constexpr int kExitUsage = 2;     // bad arguments; also: run with an invalid policy, audit error
inline constexpr int kExitCannotRun = 126;
inline constexpr int kExitNotFound = 127;
// `kernel attach --exec-condition` (a unit's ExecCondition=): systemd marks the unit failed
// only for 255 (1-254 skip it quietly), so every failure of it exits 255.
inline constexpr int kExitConditionFailed = 255;

// Whether this build has the kernel twin (CMake option BINDGUARD_KERNEL), and what the
// commands that need it say when it has not (they exit kExitCannotRun).
inline constexpr bool kHasKernelTwin = BINDGUARD_KERNEL_TWIN;
inline constexpr const char* kNoKernelTwin =
    "this build of bindguard has no kernel twin (it was built with -DBINDGUARD_KERNEL=OFF): "
    "use the library (without --kernel), or a build with the kernel twin";

void add_version_command(CLI::App& app, CommandAction& action);
void add_shim_path_command(CLI::App& app, CommandAction& action);
void add_check_command(CLI::App& app, CommandAction& action);
void add_compile_command(CLI::App& app, CommandAction& action);
void add_explain_command(CLI::App& app, CommandAction& action);
void add_run_command(CLI::App& app, CommandAction& action);
void add_audit_command(CLI::App& app, CommandAction& action);
void add_compose_check_command(CLI::App& app, CommandAction& action);
void add_protect_commands(CLI::App& app, CommandAction& action);  // protect and unprotect
void add_kernel_command(CLI::App& app, CommandAction& action);
// `docker authz`, Docker's authorization plugin (docker_authz_server.cpp).
void add_docker_command(CLI::App& app, CommandAction& action);
// `kernel attach` and `kernel detach`, under the `kernel` subcommand (kernel_attach.cpp).
void add_kernel_attach_commands(CLI::App& kernel, CommandAction& action);

// True for `bindguard kernel attach ... --exec-condition ...` (args as main() has them):
// then every failure, a usage error too, must exit kExitConditionFailed.
bool attach_as_exec_condition(const std::vector<std::string>& args);

// For `bindguard run`: the index in args (the arguments after "run") where COMMAND
// begins - after "--", or at the first argument that is neither an option of `run` nor
// an option's value. Returns args.size() when there is no COMMAND.
std::size_t run_command_start(const CLI::App& run, const std::vector<std::string>& args);

// A usage error found after parsing (e.g. a malformed value). Thrown from a command's
// action; main() prints its message and the command's usage and exits with kExitUsage.
struct UsageError : CLI::ParseError {
    explicit UsageError(const std::string& message)
        : CLI::ParseError("UsageError", message, kExitUsage) {}
};

}  // namespace bindguard::cli
