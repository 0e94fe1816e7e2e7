// `bindguard run [--policy FILE] [--service NAME] [--force] [--kernel] [--] COMMAND [ARGS...]`:
// checks everything that would make the preload silently not apply, then execs COMMAND
// in this process with the library in LD_PRELOAD. With --kernel, COMMAND is exec'd in a
// protected cgroup instead (run_kernel.cpp) and its environment is left as it is.
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "docker_programs.hpp"
#include "elf.hpp"
#include "launch_record.hpp"
#include "path_search.hpp"
#include "policy_source.hpp"
#include "program_paths.hpp"
#include "protectable.hpp"
#include "run.hpp"
#include "shim_locate.hpp"

namespace bindguard::cli {
namespace {

// Loads and validates the policy the program will get. Returns it and where it came from
// when it is valid; prints its diagnostics (errors and warnings) and throws Refusal{2}
// when it is not.
ReportedPolicy require_valid_policy(const RunOptions& options) {
    ReportedPolicy reported = load_and_report_policy(options.policy, std::cerr);
    auto& [source, loaded] = reported;
    if (loaded.ok()) {
        // The library maps the compiled image, never the TOML file.
        if (const std::string problem = ensure_compiled(source, std::cerr); !problem.empty()) {
            say("refusing to start " + options.command.front() + ": the policy " + source.path +
                " cannot be compiled for the library: " + problem);
            throw Refusal{kExitCannotRun};
        }
        return reported;
    }
    say("refusing to start " + options.command.front() + ": the policy " + source.path + " (from " +
        source.named_by + ") is invalid; fix it and check it with `bindguard check " + source.path + "`");
    throw Refusal{kExitUsage};
}

// Finds the library and proves it loads. Returns its absolute path; throws Refusal{126}.
std::string require_loadable_shim(const std::string& command) {
    ShimLocation shim = locate_shim();
    std::optional<std::string> problem;
    if (!shim.problem.empty()) problem = shim.problem;
    else if (shim.path.find_first_of(": ") != std::string::npos)  // the loader splits LD_PRELOAD there
        problem = "its path contains a space or ':', which LD_PRELOAD cannot express";
    else problem = shim_load_error(shim.path);
    if (!problem) return shim.path;
    say("refusing to start " + command + ": the bindguard library " + shim.path +
        (shim.from_env ? " (from BINDGUARD_SHIM)" : "") + " cannot be loaded: " + *problem +
        "; without it the program would run unprotected. Check the installation "
        "(`bindguard shim-path`) or BINDGUARD_SHIM.");
    throw Refusal{kExitCannotRun};
}

// Finds COMMAND on PATH. Returns the path to exec; throws Refusal{127 or 126} with the
// message a shell would print.
std::string require_command(const std::string& command) {
    ResolvedCommand resolved = resolve_command(command);
    if (resolved.error == 0) return resolved.path;
    if (resolved.error == ENOENT) {
        bool is_path = command.find('/') != std::string::npos;
        std::cerr << "bindguard: " << command << (is_path ? ": No such file or directory\n" : ": command not found\n");
        throw Refusal{kExitNotFound};
    }
    std::cerr << "bindguard: " << command << ": " << std::strerror(resolved.error) << '\n';
    throw Refusal{kExitCannotRun};
}

// Refuses (or, with --force, warns about) a program the preload cannot protect.
// Returns normally when it may start; throws Refusal{126}.
void require_protectable(const RunOptions& options, const std::string& program, const std::string& shim) {
    std::string error;
    std::optional<ElfFacts> shim_facts = inspect_elf(shim, error);
    if (!shim_facts) shim_facts = ElfFacts{};
    std::optional<ProtectionProblem> problem = protection_problem(program, *shim_facts);
    if (!problem) return;
    std::string what = problem->checked == program ? program : "its interpreter " + problem->checked;
    if (options.force) {
        say("warning: running " + options.command.front() + " UNPROTECTED (--force): " + what + " " + problem->reason);
        return;
    }
    say("refusing to start " + options.command.front() + ": " + what + " " + problem->reason + ".");
    say(problem->advice + ".");
    throw Refusal{kExitCannotRun};
}

// Refuses dockerd, containerd and docker-proxy, with the library and the kernel twin alike
// (--force does not override it: protecting them would report a public port as loopback).
// Returns normally for any other program; throws Refusal{126}.
void refuse_docker(const RunOptions& options) {
    const char* program = docker_program(options.command.front());
    if (program == nullptr) return;
    say("refusing to start " + options.command.front() + " (" + program + "): " + docker_refusal_reason(program) + ".");
    throw Refusal{kExitCannotRun};
}

// Sets LD_PRELOAD, BINDGUARD_POLICY and BINDGUARD_SERVICE for the program. Returns nothing.
void prepare_environment(const RunOptions& options, const std::string& shim) {
    const char* existing = ::getenv("LD_PRELOAD");
    ::setenv("LD_PRELOAD", composed_preload(shim, existing ? std::optional<std::string>(existing) : std::nullopt).c_str(), 1);
    if (!options.policy.empty()) ::setenv("BINDGUARD_POLICY", absolute(options.policy).c_str(), 1);
    if (!options.service.empty()) ::setenv("BINDGUARD_SERVICE", options.service.c_str(), 1);
}

// Replaces this process with the program. Returns only on failure: 126 or 127, message printed.
int exec_program(const RunOptions& options, const std::string& program) {
    std::vector<char*> argv;
    for (const std::string& arg : options.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    int error = errno;
    if (error == ENOENT && ::access(program.c_str(), F_OK) == 0) {
        std::cerr << "bindguard: " << options.command.front() << ": bad interpreter: " << std::strerror(error) << '\n';
        return kExitCannotRun;
    }
    std::cerr << "bindguard: " << options.command.front() << ": cannot execute: " << std::strerror(error) << '\n';
    return error == ENOENT ? kExitNotFound : kExitCannotRun;
}

// The whole of `bindguard run`. Returns only when the program was not started.
int run(RunOptions& options) {
    if (options.command.empty()) throw UsageError("COMMAND: required: the program to run");
    try {
        refuse_docker(options);  // before either mode: neither can protect Docker
        ReportedPolicy policy = require_valid_policy(options);
        if (options.kernel) {
            std::string program = require_command(options.command.front());
            enter_protected_cgroup(options, program, policy);
            return exec_program(options, program);
        }
        std::string shim = require_loadable_shim(options.command.front());
        std::string program = require_command(options.command.front());
        require_protectable(options, program, shim);
        prepare_environment(options, shim);
        write_launch_record();  // for audit, once the program has written its title over its environment
        return exec_program(options, program);
    } catch (const Refusal& refusal) {
        return refusal.status;
    }
}

}  // namespace

std::size_t run_command_start(const CLI::App& run, const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--") return i + 1;
        if (!arg.starts_with("-") || arg == "-") return i;
        const CLI::Option* option = run.get_option_no_throw(arg.substr(0, arg.find('=')));
        bool takes_value = option != nullptr && option->get_items_expected_max() > 0;  // flags expect 0
        if (takes_value && arg.find('=') == std::string::npos) ++i;  // skip its value
    }
    return args.size();
}

void add_run_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<RunOptions>();
    CLI::App* sub = app.add_subcommand(
        "run",
        "Run a program with the library preloaded; refuse one the library cannot protect.\n"
        "Runs COMMAND with the bindguard library preloaded, in this process (exec), so its pid,\n"
        "signals and exit status are its own. Before that: the policy is validated (invalid: exit 2),\n"
        "the library must load (else exit 126), COMMAND is looked up on PATH (not found: 127,\n"
        "not executable: 126), and a program the preload cannot protect is refused with exit 126:\n"
        "statically linked, Go, set-uid, set-gid, file capabilities (for a #! script: its interpreter).\n"
        "dockerd, containerd and docker-proxy are refused too (exit 126, with the library and with\n"
        "--kernel, --force or not): Docker's packet rules publish on every interface whatever their\n"
        "sockets are bound to; `bindguard docker authz` (`protect docker`) covers Docker instead.\n"
        "Sets LD_PRELOAD (library first, existing entries kept), BINDGUARD_POLICY (absolute path,\n"
        "with --policy) and BINDGUARD_SERVICE (with --service). Messages go to stderr.\n"
        "--force overrides only the program checks, never an invalid policy or a broken library.");
    sub->add_option("--policy", options->policy, "Policy file for the program (default: BINDGUARD_POLICY, "
                                                   "else /etc/bindguard/policy.toml, else built-in)");
    sub->add_option("--service", options->service, "Service name given to the program as BINDGUARD_SERVICE");
    sub->add_flag("--kernel", options->kernel,
                  "Enforce the policy in the kernel instead of with the library: COMMAND runs in its own cgroup\n"
                  "with bindguard's BPF programs attached (any program: Go, static, set-uid; raw system calls,\n"
                  "io_uring). Needs root and cgroup v2; when anything cannot be set up: exit 126, nothing runs");
    sub->add_flag("--force", options->force, "Run a program the preload cannot protect (static, Go, set-uid, ...) anyway, with a warning");
    // Shown in the usage only: main() hands COMMAND [ARGS...] over as `passthrough`
    // (see run_command_start), so CLI11 never parses the program's own options.
    sub->add_option("COMMAND", options->command,
                    "The program and its arguments; everything from COMMAND on is passed to it\n"
                    "unchanged (put -- before COMMAND if it starts with -)")
        ->type_name("");
    sub->callback([&action, options] {
        action = [options](const std::vector<std::string>& passthrough) {
            options->command = passthrough;
            return run(*options);
        };
    });
}

}  // namespace bindguard::cli
