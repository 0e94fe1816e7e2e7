// Reading back what the library was given (see owner_context.hpp).
#include "owner_context.hpp"

#include <stdlib.h>

#include <exception>

#include "launch_record.hpp"
#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

constexpr int kMaxAncestors = 16;

// The value of name in the unit's environment. Returns nullopt when unset.
std::optional<std::string> unit_variable(const ServiceUnit& unit, const std::string& name) {
    auto found = unit.environment.find(name);
    if (found == unit.environment.end()) return std::nullopt;
    return found->second;
}

// The context the systemd unit of pid gave it. Returns nullopt when pid is in no service
// unit, the unit cannot be read, or it gives no library and no BINDGUARD_ variable.
std::optional<OwnerContext> unit_context(pid_t pid) {
    std::string name = unit_of_process(pid);
    if (name.empty()) return std::nullopt;
    const char* root = ::getenv(kSystemdRootVariable);
    std::string root_dir = root != nullptr ? root : "";
    try {
        ServiceUnit unit = read_service_unit(name, root_dir, root_dir.empty() && systemd_running(), true);
        auto policy = unit_variable(unit, "BINDGUARD_POLICY");
        auto service = unit_variable(unit, "BINDGUARD_SERVICE");
        if (!unit.ld_preload && !policy && !service) return std::nullopt;
        return OwnerContext{OwnerContext::Source::systemd_unit, pid, policy, service, name};
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

}  // namespace

const char* to_string(OwnerContext::Source source) {
    switch (source) {
        case OwnerContext::Source::environment: return "environment";
        case OwnerContext::Source::parent_environment: return "parent-environment";
        case OwnerContext::Source::launch_record: return "bindguard-run";
        case OwnerContext::Source::systemd_unit: return "systemd-unit";
        case OwnerContext::Source::systemd_socket: return "systemd-socket";
        case OwnerContext::Source::unreadable: return "unreadable";
    }
    return "unreadable";
}

OwnerContext owner_context(const ProcessInfo& owner) {
    ProcessInfo current = owner;
    for (int hop = 0; hop <= kMaxAncestors; ++hop) {
        if (current.environ_readable) {
            return OwnerContext{hop == 0 ? OwnerContext::Source::environment : OwnerContext::Source::parent_environment,
                                current.pid, current.policy_var, current.service_var, {}};
        }
        if (current.start_time != 0) {
            if (auto record = read_launch_record(current.pid, current.start_time, current.uid))
                return OwnerContext{OwnerContext::Source::launch_record, current.pid, record->policy, record->service, {}};
        }
        if (current.parent <= 1) break;  // pid 1 (a service manager) passes nothing readable here
        // Only a process forked from the same program (a worker from its master) shares its
        // environment: another program's would say nothing about what this one was given.
        ProcessInfo parent = read_process(current.parent);
        if (parent.program.empty() || parent.program != owner.program) break;
        current = parent;
    }
    if (auto context = unit_context(owner.pid)) return *context;
    return OwnerContext{};
}

}  // namespace bindguard::cli
