// What `bindguard run` shares between its two modes: the preload library (run.cpp)
// and the kernel twin (run_kernel.cpp).
#pragma once

#include <iostream>
#include <string>
#include <vector>

#include "policy_source.hpp"

namespace bindguard::cli {

struct RunOptions {
    std::string policy;
    std::string service;
    bool force = false;
    bool kernel = false;
    std::vector<std::string> command;  // COMMAND ARGS...
};

// Thrown by a check that refuses to start the program; carries the exit status.
struct Refusal {
    int status;
};

// Prints "bindguard run: MESSAGE" on stderr. Returns nothing.
inline void say(const std::string& message) {
    std::cerr << "bindguard run: " << message << '\n';
}

// For `run --kernel`: loads (or opens) the BPF programs, makes this process's own
// cgroup under the bindguard subtree with the rule set of program (the resolved
// COMMAND) compiled into it and the programs attached, starts its reaper, and moves
// this process into it, so that the exec that follows is protected. Returns normally
// only when all of that is done; prints the reason and throws Refusal{126} otherwise.
void enter_protected_cgroup(const RunOptions& options, const std::string& program, const ReportedPolicy& policy);

}  // namespace bindguard::cli
