// Reading back what the library was given (see owner_context.hpp).
#include "owner_context.hpp"

#include "launch_record.hpp"

namespace bindguard::cli {
namespace {

constexpr int kMaxAncestors = 16;

}  // namespace

const char* to_string(OwnerContext::Source source) {
    switch (source) {
        case OwnerContext::Source::environment: return "environment";
        case OwnerContext::Source::parent_environment: return "parent-environment";
        case OwnerContext::Source::launch_record: return "bindguard-run";
        case OwnerContext::Source::unreadable: return "unreadable";
    }
    return "unreadable";
}

OwnerContext owner_context(const ProcessInfo& owner) {
    ProcessInfo current = owner;
    for (int hop = 0; hop <= kMaxAncestors; ++hop) {
        if (current.environ_readable) {
            return OwnerContext{hop == 0 ? OwnerContext::Source::environment : OwnerContext::Source::parent_environment,
                                current.pid, current.policy_var, current.service_var};
        }
        if (current.start_time != 0) {
            if (auto record = read_launch_record(current.pid, current.start_time, current.uid))
                return OwnerContext{OwnerContext::Source::launch_record, current.pid, record->policy, record->service};
        }
        if (current.parent <= 1) break;  // pid 1 (a service manager) passes nothing readable here
        // Only a process forked from the same program (a worker from its master) shares its
        // environment: another program's would say nothing about what this one was given.
        ProcessInfo parent = read_process(current.parent);
        if (parent.program.empty() || parent.program != owner.program) break;
        current = parent;
    }
    return OwnerContext{};
}

}  // namespace bindguard::cli
