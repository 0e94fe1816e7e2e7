// `bindguard kernel attach` and `bindguard kernel detach`: the kernel twin for a cgroup
// someone else made, the caller's own: what a systemd unit protected with
// `bindguard protect UNIT --kernel` runs as ExecCondition=+ (before anything else of the
// unit) and ExecStopPost=+ (they run in the unit's cgroup). attach fails closed: any error
// is a non-zero exit (255 with --exec-condition), which stops the unit's start. detach
// leaves the programs attached while other processes still run in the cgroup (a unit with
// KillMode=process, mixed or none), so that nothing runs there unprotected.
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "bindguard/kernel_setup.hpp"
#include "commands.hpp"
#include "bindguard/compile.hpp"
#include "policy_source.hpp"
#include "program_paths.hpp"
#include "socket_listeners.hpp"
#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

namespace k = bindguard::kernel;

struct AttachOptions {
    std::string policy;
    std::string service;
    std::string program;
    std::string command;
    bool any_cgroup = false;
    bool exec_condition = false;  // a unit's ExecCondition=: every failure exits 255
};

struct CheckSocketOptions {
    std::string policy;
    std::string service;
    std::string unit;
};

struct DetachOptions {
    bool any_cgroup = false;
    bool force = false;  // detach even while other processes run in the cgroup
};

// The caller's cgroup v2 path relative to the mount ("/system.slice/nginx.service"), from
// /proc/self/cgroup; a unit's ".control" sub-cgroup (its control processes under
// Delegate=yes) stands for the unit's cgroup. Returns it; "" when there is no v2 line.
std::string own_cgroup() {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
        if (!line.starts_with("0::")) continue;
        std::string path = line.substr(3);
        if (path.ends_with("/.control")) path.resize(path.size() - 9);
        return path.empty() ? "/" : path;
    }
    return "";
}

// The cgroup attach/detach work on, checked: never the root cgroup; a systemd service's
// or socket unit's (its last component ends in ".service" or ".socket") unless any_cgroup. Returns its absolute path;
// stops with 126 (attach must not let the unit start).
std::string checked_cgroup(const std::string& verb, const std::string& mount, bool any_cgroup) {
    if (mount.empty()) fail("kernel " + verb, "cgroup v2 is not mounted (no cgroup2 line in /proc/self/mountinfo)", kExitCannotRun);
    const std::string relative = own_cgroup();
    if (relative.empty()) fail("kernel " + verb, "this process has no cgroup v2 path in /proc/self/cgroup", kExitCannotRun);
    if (relative == "/")
        fail("kernel " + verb, "refusing the root cgroup " + mount + ": that would be every process on the machine. Run it from "
                   "inside the cgroup to protect (a unit's ExecCondition=+, see `bindguard protect UNIT --kernel`)",
             kExitCannotRun);
    const std::string last = relative.substr(relative.rfind('/') + 1);
    if (!last.ends_with(".service") && !last.ends_with(".socket") && !any_cgroup)
        fail("kernel " + verb, "refusing the cgroup " + mount + relative + ": it is not a systemd service's or socket unit's (its "
                   "name ends in neither .service nor .socket); --any-cgroup to " + verb + " there all the same",
             kExitCannotRun);
    return mount + relative;
}

// "N process(es) (pids 12 34 ...)", at most ten pids shown. Returns it.
std::string describe_processes(const std::vector<int>& pids) {
    std::string text = std::to_string(pids.size()) + (pids.size() == 1 ? " process (pid" : " processes (pids");
    for (std::size_t i = 0; i < pids.size() && i < 10; ++i) text += " " + std::to_string(pids[i]);
    return text + (pids.size() > 10 ? " ...)" : ")");
}

// The whole of `bindguard kernel attach`. Returns 0; stops with 2 (invalid policy) or 126.
int attach(const AttachOptions& options) {
    ReportedPolicy reported = load_and_report_policy(options.policy, std::cerr);
    if (!reported.loaded.ok())
        fail("kernel attach", "the policy " + reported.source.path + " (from " + reported.source.named_by +
                           ") is invalid; nothing is attached and the unit must not start. Fix it and check it with "
                           "`bindguard check " + reported.source.path + "`",
             kExitUsage);
    // The kernel twin needs no image; a library in the unit does (it fails closed without one).
    if (const std::string problem = ensure_compiled(reported.source, std::cerr); !problem.empty())
        std::cerr << "bindguard kernel attach: warning: the policy " << reported.source.path
                  << " cannot be compiled for the library (" << problem
                  << "); a preloaded library in the unit will deny every non-loopback bind\n";
    const std::string cgroup = checked_cgroup("attach", k::cgroup2_mount(), options.any_cgroup);
    k::Protection protection;
    protection.service = k::service_name(options.service, service_of_cgroup(cgroup));
    protection.program = options.program.empty() ? "" : resolved_program(options.program);
    protection.policy_path = reported.source.path.empty() ? "" : absolute(reported.source.path);
    // The rules of the one compiler's image that apply to this process (as the library reads them).
    protection.policy =
        image::process_policy(*reported.loaded.policy, protection.program,
                              options.command.empty() ? protection.program : options.command, protection.service);
    protection.warn = [](const std::string& message) {
        std::cerr << "bindguard kernel attach: warning: " << message << '\n';
    };
    std::string label;
    bool attached_before = false;
    try {
        k::ProtectedCgroup protected_cgroup = k::ProtectedCgroup::attach_existing(cgroup, protection, STDERR_FILENO);
        protected_cgroup.commit();
        label = protected_cgroup.label();
        attached_before = protected_cgroup.attached_before();
    } catch (const k::SetupError& error) {
        fail("kernel attach", "cannot protect the cgroup " + cgroup + ": " + error.what() + "; the unit must not start" +
                           (error.kept_for.empty() ? "" : " (the programs attached before stay, for the " +
                                                              describe_processes(error.kept_for) + " still in it)"),
             kExitCannotRun);
    } catch (const k::KernelError& error) {
        fail("kernel attach", "cannot protect the cgroup " + cgroup + ": " + error.what() + "; the unit must not start",
             kExitCannotRun);
    }
    std::cout << "bindguard kernel attach: protecting the cgroup " << cgroup << " (" << label << ")"
              << (attached_before ? "; it was still attached (kept), its rule set is replaced" : "") << std::endl;
    return kExitOk;
}

// The whole of `bindguard kernel detach`. Returns 0 (also when nothing was attached, and
// when the programs are kept for processes still in the cgroup); stops with 126 when the
// cgroup is refused, 1 when the pins cannot be opened.
int detach(const DetachOptions& options) {
    k::Names names;
    try {
        names = k::names();
    } catch (const k::KernelError& error) {
        fail("kernel detach", error.what(), kExitCannotRun);
    }
    const std::string cgroup = checked_cgroup("detach", k::cgroup2_mount(), options.any_cgroup);
    std::optional<k::Programs> programs;
    try {
        programs = k::Programs::open_pinned(names.pin_dir);
    } catch (const k::KernelError& error) {
        fail("kernel detach", error.what(), kExitFailure);
    }
    if (!programs) {
        std::cout << "bindguard kernel detach: nothing is loaded (no pins under " << names.pin_dir << ")\n";
        return kExitOk;
    }
    // Processes the unit left behind (KillMode=process, mixed or none, or a stop that has
    // not killed them yet) keep the programs: detached, they would run unprotected.
    const std::vector<int> others = k::other_processes(cgroup);
    if (!others.empty() && !programs->attached(cgroup).empty()) {
        if (!options.force) {
            std::cout << "bindguard kernel detach: kept on " << cgroup << ": " << describe_processes(others)
                      << " still run in it and would be left unprotected. The programs go with the cgroup when its "
                         "last process ends; the unit's next `kernel attach` takes them over (with its policy)"
                      << std::endl;
            return kExitOk;
        }
        std::cerr << "bindguard kernel detach: warning: " << describe_processes(others) << " in " << cgroup
                  << " are left UNPROTECTED (--force)\n";
    }
    const bool detached = programs->detach(cgroup);
    try {
        programs->remove_policy(k::cgroup_id(cgroup));  // with its ring buffer: the relay ends
    } catch (const k::KernelError&) {
    }
    std::cout << "bindguard kernel detach: " << (detached ? "detached from " : "nothing was attached to ") << cgroup
              << '\n';
    return kExitOk;
}

// The whole of `bindguard kernel check-socket UNIT`. Returns 0 when none of the unit's IP
// listeners is public; stops with 1 when one is (the unit then fails and systemd closes
// its sockets), 2 on an invalid policy, 126 when the unit or the sockets cannot be read.
int check_socket(const CheckSocketOptions& options) {
    if (!options.unit.ends_with(".socket")) throw UsageError("UNIT: not a socket unit: '" + options.unit + "'");
    ReportedPolicy reported = load_and_report_policy(options.policy, std::cerr);
    if (!reported.loaded.ok())
        fail("kernel check-socket", "the policy " + reported.source.path + " is invalid; the socket unit must not listen",
             kExitUsage);
    std::vector<std::string> public_ones;
    SocketUnit unit;
    try {
        unit = read_socket_unit(options.unit, "");
        const std::string service = options.service.empty() ? socket_service_name(unit) : options.service;
        public_ones = public_listeners(unit, *reported.loaded.policy, service);
    } catch (const std::runtime_error& error) {
        fail("kernel check-socket", std::string(error.what()) + "; the socket unit must not listen", kExitCannotRun);
    }
    if (!public_ones.empty()) {
        std::string list;
        for (const std::string& one : public_ones) list += (list.empty() ? "" : ", ") + one;
        if (reported.loaded.policy->mode == Mode::audit) {  // audit mode changes nothing, as the library's
            std::cout << "bindguard kernel check-socket: " << options.unit << " listens publicly (" << list
                      << "): the unit would fail (mode = \"audit\": it goes on)" << std::endl;
            return kExitOk;
        }
        fail("kernel check-socket", options.unit + " listens publicly all the same (" + list +
                                 "): systemd bound it outside the unit's cgroup, where the kernel twin does not "
                                 "reach; failing the unit, which closes its sockets",
             kExitFailure);
    }
    std::cout << "bindguard kernel check-socket: " << options.unit << ": no public listener" << std::endl;
    return kExitOk;
}

}  // namespace

void add_kernel_attach_commands(CLI::App& kernel, CommandAction& action) {
    auto options = std::make_shared<AttachOptions>();
    CLI::App* attach_command = kernel.add_subcommand(
        "attach",
        "Protect the cgroup this command runs in (a unit's ExecCondition=+, a socket unit's ExecStartPre=+);\n"
        "fails closed.\n"
        "What `bindguard protect UNIT --kernel` writes: compile the policy for --program, load the BPF\n"
        "programs when needed, attach them to the caller's cgroup and start its log relay. Refuses the root cgroup, and any\n"
        "cgroup not named *.service or *.socket unless --any-cgroup. Already attached there (kept by a detach for\n"
        "processes left behind): kept, its rule set replaced. Fails closed: exit 2 on an invalid policy,\n"
        "126 when anything cannot be set up (nothing is left attached, but for processes left behind\n"
        "that an earlier attach protects), so the unit does not start; with --exec-condition every\n"
        "failure exits 255 (systemd skips a unit quietly for an ExecCondition= exit of 1-254).");
    attach_command->add_option("--policy", options->policy,
                               "Policy file (default: BINDGUARD_POLICY, else /etc/bindguard/policy.toml, else built-in)");
    attach_command->add_option("--service", options->service,
                               "Service name for `service` rules (default: BINDGUARD_SERVICE, else the unit's name)");
    attach_command->add_option("--program", options->program, "The unit's program (ExecStart='s), for `program` rules");
    attach_command->add_option("--command", options->command,
                               "Its command line, for `command` rules (default: the program)");
    attach_command->add_flag("--any-cgroup", options->any_cgroup, "Attach to a cgroup that is not a systemd service's");
    attach_command->add_flag("--exec-condition", options->exec_condition,
                             "Run as a unit's ExecCondition=: exit 255 on every failure, so that systemd fails the unit");
    attach_command->callback([&action, options] {
        action = [options](const std::vector<std::string>&) {
            try {
                return attach(*options);
            } catch (const Stop& stop) {
                return options->exec_condition ? kExitConditionFailed : stop.status;
            }
        };
    });

    auto check = std::make_shared<CheckSocketOptions>();
    CLI::App* check_command = kernel.add_subcommand(
        "check-socket",
        "Fail when a socket unit listens publicly all the same (its ExecStartPost=+).\n"
        "What `bindguard protect UNIT.socket --kernel` writes after attach: once systemd has bound the\n"
        "unit's listen lines, looks at the sockets pid 1 holds on their protocols and ports and exits 1\n"
        "when one is on an address that is not loopback and that no rule allows for the service (systemd\n"
        "bound it outside the unit's cgroup): systemd then fails the unit and closes its sockets (a policy\n"
        "in mode = \"audit\" only says so).\n"
        "Exit 0 when none is; 2 on an invalid policy; 126 when the unit or /proc/net cannot be read.");
    check_command->add_option("UNIT", check->unit, "The socket unit, e.g. app.socket (%n in the unit)")->required();
    check_command->add_option("--policy", check->policy,
                              "Policy file (default: BINDGUARD_POLICY, else /etc/bindguard/policy.toml, else built-in)");
    check_command->add_option("--service", check->service,
                              "Service name for `service` rules (default: the service the unit activates)");
    check_command->callback([&action, check] {
        action = [check](const std::vector<std::string>&) {
            try {
                return check_socket(*check);
            } catch (const Stop& stop) {
                return stop.status;
            }
        };
    });

    auto detach_options = std::make_shared<DetachOptions>();
    CLI::App* detach_command = kernel.add_subcommand(
        "detach",
        "Undo `kernel attach` for the cgroup this command runs in (a unit's ExecStopPost=+).\n"
        "Detaches the programs, removes its rule set and ring buffer (its log relay then ends).\n"
        "While other processes still run in the cgroup or below it (a unit with KillMode=process,\n"
        "mixed or none leaves them), keeps everything and says so: the programs then go with the\n"
        "cgroup, or the unit's next `kernel attach` takes them over. Exit 0, also when nothing was\n"
        "attached.");
    detach_command->add_flag("--any-cgroup", detach_options->any_cgroup,
                             "Detach from a cgroup that is not a systemd service's");
    detach_command->add_flag("--force", detach_options->force,
                             "Detach even while other processes run in the cgroup (they run unprotected)");
    detach_command->callback([&action, detach_options] {
        action = [detach_options](const std::vector<std::string>&) {
            try {
                return detach(*detach_options);
            } catch (const Stop& stop) {
                return stop.status;
            }
        };
    });
}

}  // namespace bindguard::cli
