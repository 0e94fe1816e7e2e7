// `bindguard run --kernel`: the protected cgroup that COMMAND is exec'd into.
#include <unistd.h>

#include "bindguard/compile.hpp"
#include "bindguard/kernel_setup.hpp"
#include "command_line.hpp"
#include "commands.hpp"
#include "program_paths.hpp"
#include "run.hpp"

namespace bindguard::cli {

void enter_protected_cgroup(const RunOptions& options, const std::string& program, const ReportedPolicy& policy) {
    namespace k = bindguard::kernel;
    try {
        k::Protection protection;
        protection.program = resolved_program(program);
        protection.service = k::service_name(options.service);
        protection.policy_path = policy.source.path.empty() ? "" : absolute(policy.source.path);
        // The rules of the one compiler's image that apply to this process (as the library reads them).
        protection.policy = image::process_policy(*policy.loaded.policy, protection.program,
                                                  command_line(options.command), protection.service);
        protection.warn = [](const std::string& message) { say("warning: " + message); };
        k::ProtectedCgroup::make_new(protection, STDERR_FILENO).commit();
    } catch (const k::KernelError& error) {
        say("refusing to start " + options.command.front() + ": cannot set up the kernel twin: " + error.what());
        throw Refusal{kExitCannotRun};
    }
}

}  // namespace bindguard::cli
