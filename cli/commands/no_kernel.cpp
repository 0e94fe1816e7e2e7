// A build without the kernel twin (CMake option BINDGUARD_KERNEL=OFF): `run --kernel` and
// every `kernel ...` command refuse with kNoKernelTwin and exit 126 (255 for `kernel attach
// --exec-condition`, a unit's ExecCondition=, so that systemd fails the unit instead of
// skipping it), before anything runs.
#include <iostream>

#include "commands.hpp"
#include "run.hpp"

namespace bindguard::cli {

void enter_protected_cgroup(const RunOptions& options, const std::string& /*program*/, const ReportedPolicy& /*policy*/) {
    say("refusing to start " + options.command.front() + ": --kernel: " + kNoKernelTwin);
    throw Refusal{kExitCannotRun};
}

void add_kernel_command(CLI::App& app, CommandAction& action) {
    CLI::App* sub = app.add_subcommand(
        "kernel",
        "Show, attach or unload the kernel twin: not in this build (-DBINDGUARD_KERNEL=OFF).\n"
        "Every `kernel` command says so and exits 126 (`kernel attach --exec-condition`: 255).");
    sub->prefix_command();  // status, attach, detach, unload and their options: all refused alike
    sub->callback([&action, sub] {
        action = [sub](const std::vector<std::string>&) {
            std::vector<std::string> args = sub->remaining();
            std::string what = "kernel";
            if (!args.empty() && !args.front().starts_with("-")) what += " " + args.front();
            std::cerr << "bindguard " << what << ": " << kNoKernelTwin << '\n';
            args.insert(args.begin(), {"bindguard", "kernel"});
            return attach_as_exec_condition(args) ? kExitConditionFailed : kExitCannotRun;
        };
    });
}

}  // namespace bindguard::cli
