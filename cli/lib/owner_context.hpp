// What the library in a socket's owner was given: BINDGUARD_POLICY and BINDGUARD_SERVICE,
// read back the way `bindguard audit` can - from the owner's environment, or when the
// owner wrote its process title over it, from the launch record of `bindguard run`, the
// environment of the process it was forked from, or the Environment= of its systemd unit.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "processes.hpp"

namespace bindguard::cli {

struct OwnerContext {
    enum class Source {
        environment,         // the owner's own /proc/PID/environ
        parent_environment,  // the environ of the process of the same program it was forked from
        launch_record,       // the record `bindguard run` left for the owner or an ancestor
        systemd_unit,        // the Environment= of the systemd service it runs in (e.g. `bindguard protect`'s drop-in)
        systemd_socket,      // pid 1 holds it for a socket unit: that unit's service (and its drop-in's --policy)
        unreadable,          // none of these could be read
    };
    Source source = Source::unreadable;
    pid_t from = 0;                      // whose environment or record it is
    std::optional<std::string> policy;   // BINDGUARD_POLICY, when set
    std::optional<std::string> service;  // BINDGUARD_SERVICE, when set
    std::string unit;                    // for systemd_unit: the unit's name
};

// Where audit reads unit files from when systemd does not run, for an image or a test:
// BINDGUARD_SYSTEMD_ROOT (a directory holding etc/systemd/system, lib/systemd/system, ...).
inline constexpr const char* kSystemdRootVariable = "BINDGUARD_SYSTEMD_ROOT";

// "environment", "parent-environment", "bindguard-run", "systemd-unit", "systemd-socket", "unreadable".
const char* to_string(OwnerContext::Source source);

// Finds the owner's context: its environment when readable; else the launch record of it;
// else the same for the process it was forked from, while that runs the same program (a
// worker's master); else the Environment= of the systemd service unit the owner runs in
// (/proc/PID/cgroup), when it sets LD_PRELOAD or a BINDGUARD_ variable. Returns it
// (Source::unreadable when nothing is found).
OwnerContext owner_context(const ProcessInfo& owner);

}  // namespace bindguard::cli
