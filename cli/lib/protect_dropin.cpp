// The drop-in of `bindguard protect` for a service (see protect_dropin.hpp).
#include "protect_dropin.hpp"

#include <fnmatch.h>
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "status.hpp"

namespace bindguard::cli {

std::string socket_bind_entry(const char* protocol, const PortRange& range) {
    std::string ports = range.first == range.last ? std::to_string(range.first)
                                                  : std::to_string(range.first) + "-" + std::to_string(range.last);
    return std::string(protocol) + ":" + ports;
}

std::vector<std::string> backstop_ports(const Policy& policy, const std::string& service, const std::string& program) {
    char resolved[PATH_MAX];
    std::string real_program = ::realpath(program.c_str(), resolved) ? resolved : program;
    std::vector<std::string> entries;
    for (const Rule& rule : policy.rules) {
        bool for_service = rule.service && *rule.service == service;
        bool for_program = rule.program && ::fnmatch(rule.program->c_str(), real_program.c_str(), 0) == 0;
        if (rule.action == Action::deny || !(for_service || for_program)) continue;
        if (rule.ports.empty())
            fail("protect", "--backstop: rule \"" + rule.name + "\" of " + policy.source + " gives service " + service +
                                " every port, so there is no port list to pin; give the rule a `port = [...]`",
                 kExitFailure);
        for (const PortRange& range : rule.ports) {
            for (const char* protocol : {"tcp", "udp"}) {
                bool wanted = rule.protocol == Protocol::any || std::string(to_string(rule.protocol)) == protocol;
                std::string entry = socket_bind_entry(protocol, range);
                if (wanted && std::find(entries.begin(), entries.end(), entry) == entries.end()) entries.push_back(entry);
            }
        }
    }
    if (entries.empty())
        fail("protect", "--backstop: " + policy.source + " names no port for service " + service + " (nor for " +
                            real_program + "); add a rule such as\n  [[rule]]\n  name = \"" + service +
                            "\"\n  action = \"rewrite\"\n  service = \"" + service + "\"\n  port = [PORT]",
             kExitFailure);
    return entries;
}

std::string own_path() {
    char resolved[PATH_MAX];
    if (::realpath("/proc/self/exe", resolved) == nullptr)
        fail("protect", std::string("cannot tell where this bindguard command is (/proc/self/exe): ") + std::strerror(errno),
             kExitCannotRun);
    return resolved;
}

// ExecCondition= runs before every ExecStartPre= (a drop-in's ExecStartPre= would come after
// the vendor's own, e.g. nginx's `nginx -t`, which binds); `+` runs it with full privileges;
// --exec-condition makes each failure exit 255, which fails the unit (1-254 would skip it
// quietly).
std::string kernel_lines(const ServiceUnit& unit, const std::string& own, const std::string& policy_path,
                         const std::string& service) {
    const std::string self = exec_quoted(own);
    std::string attach = "ExecCondition=+" + self + " kernel attach --exec-condition --service " +
                         exec_quoted(service) + " --program " + exec_quoted(unit.program);
    if (!unit.command.empty()) attach += " --command " + exec_quoted(unit.command);
    if (!policy_path.empty()) attach += " --policy " + exec_quoted(policy_path);
    return "# --kernel: at each start, before anything else of the unit runs (ExecCondition= comes\n"
           "# before ExecStartPre=), `bindguard kernel attach` protects this unit's own cgroup with the\n"
           "# kernel twin (cgroup BPF: any program, Go and static ones too); if it cannot, it exits 255\n"
           "# and the unit fails without starting. After each stop, `kernel detach` removes it again\n"
           "# (kept while processes the unit left behind still run in its cgroup).\n" +
           attach + "\nExecStopPost=+" + self + " kernel detach\n";
}

std::string dropin_text(const DropInChoice& choice, const ServiceUnit& unit, const std::string& shim,
                        const std::string& policy_path, const std::string& service,
                        const std::vector<std::string>& backstop) {
    const bool preload = !choice.kernel || choice.with_preload;
    const char* by = !preload ? "The kernel twin keeps" : choice.kernel ? "The bindguard library and the kernel twin keep"
                                                                          : "The bindguard library keeps";
    std::string text = std::string(kProtectMarker) + " " + unit.name + "` (bindguard " + BINDGUARD_VERSION + ").\n"
                       "# " + by + " this service's binds on loopback, except where the policy\n"
                       "# allows them. Remove with `bindguard unprotect " + unit.name + "`.\n"
                       "[Service]\n";
    if (choice.kernel) text += kernel_lines(unit, choice.self, policy_path, service);
    if (!preload) {
        // The kernel twin alone: nothing for the program's environment.
    } else {
        text += "Environment=" + unit_quoted("LD_PRELOAD=" + composed_preload(shim, unit.ld_preload)) + "\n";
        if (!policy_path.empty()) text += "Environment=" + unit_quoted("BINDGUARD_POLICY=" + policy_path) + "\n";
        text += "Environment=" + unit_quoted("BINDGUARD_SERVICE=" + service) + "\n";
    }
    if (preload && unit.no_exec_paths) {
        text += "# The unit sets NoExecPaths=: the library's directory must stay mappable as code.\n";
        text += "ExecPaths=" + shim.substr(0, shim.rfind('/')) + "\n";
    }
    if (choice.backstop) {
        text += "# --backstop: the kernel refuses every other port (cgroup BPF), whatever the program does.\n";
        for (const std::string& entry : backstop) text += "SocketBindAllow=" + entry + "\n";
        text += "SocketBindDeny=any\n";
    }
    return text;
}

}  // namespace bindguard::cli
