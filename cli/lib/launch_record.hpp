// What `bindguard run` gave a program (BINDGUARD_POLICY, BINDGUARD_SERVICE), kept in a
// small file named after its pid, so that `bindguard audit` can judge the program as the
// library did even after the program wrote its process title over its environment
// (nginx, Redis and PostgreSQL all do).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace bindguard::cli {

// One file per launched program: DIR/PID, lines "start_time=N", "policy=PATH",
// "service=NAME" (a missing line: the variable was unset). DIR is RUNTIME/launched, RUNTIME
// being $BINDGUARD_RUNTIME_DIR when it is an absolute path, else /run/bindguard (the tests
// use their own, so that they leave nothing in /run). Sticky and world-writable, as /tmp,
// so that every user's `bindguard run` can leave one; a record is believed only when its
// file belongs to root or to the process's owner.
inline constexpr const char* kDefaultRuntimeDir = "/run/bindguard";

struct LaunchRecord {
    std::optional<std::string> policy;   // BINDGUARD_POLICY as the program got it
    std::optional<std::string> service;  // BINDGUARD_SERVICE as the program got it
};

// Records this process's BINDGUARD_POLICY and BINDGUARD_SERVICE under its pid (which the
// program keeps across exec), and removes records of processes that are gone. Best
// effort: returns nothing and never fails the caller (an unwritable /run only means that
// audit may have to say it cannot read the program's environment).
void write_launch_record();

// The record of pid, when there is one for this very process (same start time) written
// by root or by uid. Returns nullopt otherwise.
std::optional<LaunchRecord> read_launch_record(pid_t pid, unsigned long long start_time, uid_t uid);

}  // namespace bindguard::cli
