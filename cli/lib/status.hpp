// What the library of the `bindguard` command (cli/lib/) and its commands (cli/commands/)
// share to stop: the exit statuses, the usage error, and Stop/fail() for a command that
// stops after printing why.
#pragma once

#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

namespace bindguard::cli {

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

// A usage error found after parsing (e.g. a malformed value). Thrown from a command's
// action; main() prints its message and the command's usage and exits with kExitUsage.
struct UsageError : CLI::ParseError {
    explicit UsageError(const std::string& message)
        : CLI::ParseError("UsageError", message, kExitUsage) {}
};

// Thrown when a command stops; carries the exit status (the message is already printed).
// The function that runs the command catches it and returns the status.
struct Stop {
    int status;
};

// Prints "bindguard COMMAND: MESSAGE" on stderr (COMMAND e.g. "protect", "kernel attach",
// "docker authz") and throws Stop{status}.
[[noreturn]] void fail(std::string_view command, const std::string& message, int status);

}  // namespace bindguard::cli
