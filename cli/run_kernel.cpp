// `bindguard run --kernel`: the protected cgroup that COMMAND is exec'd into.
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "bindguard/compile.hpp"
#include "bindguard/kernel.hpp"
#include "commands.hpp"
#include "program_paths.hpp"
#include "run.hpp"

namespace bindguard::cli {
namespace {

// COMMAND ARGS... joined by single spaces, as a rule's `command` glob sees it.
std::string command_line(const std::vector<std::string>& command) {
    std::string line;
    for (const std::string& arg : command) line += (line.empty() ? "" : " ") + arg;
    return line;
}

}  // namespace

void enter_protected_cgroup(const RunOptions& options, const std::string& program, const ReportedPolicy& policy) {
    namespace k = bindguard::kernel;
    const std::string& name = options.command.front();
    std::string cgroup;
    std::uint64_t id = 0;
    std::optional<k::Programs> programs;
    try {
        const k::Names names = k::names();
        if (names.cgroup_subtree.empty())
            throw k::KernelError("cgroup v2 is not mounted (no cgroup2 line in /proc/self/mountinfo)");
        std::string service = options.service;
        if (service.empty())
            if (const char* env = ::getenv("BINDGUARD_SERVICE")) service = env;
        const std::string path = resolved_program(program);
        // The rules of the one compiler's image that apply to this process (as the library reads them).
        Policy own = image::process_policy(*policy.loaded.policy, path, command_line(options.command), service);
        const std::string label = "service=" + (service.empty() ? std::string("-") : service) + " program=" + path +
                                  " policy=" + (policy.source.path.empty() ? "<built-in>" : absolute(policy.source.path));
        std::unique_ptr<bg_policy> compiled = k::compile_policy(own, label);

        programs.emplace(k::Programs::open_or_load(names.pin_dir));
        if (programs->loaded_build() != k::embedded_build())
            say("warning: the BPF programs loaded under " + names.pin_dir + " come from another bindguard build; "
                "they are used as they are (same layout). Run `bindguard kernel unload` when nothing runs under "
                "them to load this build's.");
        k::sweep(*programs, names.cgroup_subtree);
        cgroup = k::make_cgroup(names.cgroup_subtree, "run");
        id = k::cgroup_id(cgroup);
        programs->set_policy(id, *compiled);  // before the programs can run for anyone in it
        k::RelaySettings relay{own, path, service, -1, STDERR_FILENO};
        if (k::wants_log(own)) relay.ring = programs->make_ring(id);
        programs->attach(cgroup);
        int joined = -1;
        try {
            joined = k::start_reaper(cgroup, id, names.pin_dir, relay);
        } catch (...) {
            if (relay.ring >= 0) ::close(relay.ring);
            throw;
        }
        if (relay.ring >= 0) ::close(relay.ring);  // the relay has its own
        try {
            k::join_cgroup(cgroup);
        } catch (...) {
            ::close(joined);  // the reaper removes the cgroup at once
            cgroup.clear();
            throw;
        }
        (void)!::send(joined, "j", 1, MSG_NOSIGNAL);
        ::close(joined);
    } catch (const k::KernelError& error) {
        if (!cgroup.empty()) {
            if (programs) {
                programs->detach(cgroup);
                if (id != 0) programs->remove_policy(id);
            }
            k::remove_cgroup(cgroup);
        }
        say("refusing to start " + name + ": cannot set up the kernel twin: " + error.what());
        throw Refusal{kExitCannotRun};
    }
}

}  // namespace bindguard::cli
