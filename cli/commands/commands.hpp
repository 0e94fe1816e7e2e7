// The subcommands of `bindguard`. Each add_*_command() adds its subcommand to app and,
// when that subcommand is the one parsed, stores in `action` the function that runs it.
// The stored function returns the process exit status. Each command is a file of
// cli/commands/; what the commands share, and the pure functions, are in cli/lib/.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "status.hpp"

namespace bindguard::cli {

using CommandAction = std::function<int(const std::vector<std::string>& passthrough)>;

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

}  // namespace bindguard::cli
