// `bindguard kernel status` and `bindguard kernel unload`: what the kernel twin has
// loaded and where it is attached; detaching and unloading it.
#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <memory>
#include <set>

#include "bindguard/kernel.hpp"
#include "commands.hpp"

namespace bindguard::cli {
namespace {

namespace k = bindguard::kernel;

// The mode of a compiled rule set, how many entries it has and what its full ring buffer
// dropped, e.g. "enforce, 3 rule entries, 0 events dropped".
std::string describe_rules(const bg_policy& policy) {
    return std::string(policy.audit ? "audit" : "enforce") + ", " + std::to_string(policy.count) + " rule entries, " +
           std::to_string(policy.dropped) + " events dropped";
}

// Prints the status. Returns 0.
int status() {
    const k::Names names = k::names();
    std::optional<k::Programs> programs = k::Programs::open_pinned(names.pin_dir);
    if (!programs) {
        std::cout << "programs: not loaded (nothing pinned under " << names.pin_dir << ")\n";
        return kExitOk;
    }
    k::sweep(*programs, names.cgroup_subtree);
    const std::vector<std::uint32_t> ids = programs->program_ids();
    std::cout << "programs: loaded, pinned under " << names.pin_dir << " (ids: bind4 " << ids[0] << ", bind6 "
              << ids[1] << ", sockops " << ids[2] << "; "
              << (programs->loaded_build() == k::embedded_build() ? "this build" : "ANOTHER build: unload to update")
              << ")\n";
    const k::Stats stats = programs->stats();
    std::cout << "events: " << stats.events << " reported, " << stats.dropped << " dropped (ring buffer full)\n";
    std::cout << "cgroup subtree: " << (names.cgroup_subtree.empty() ? "- (cgroup v2 not mounted)" : names.cgroup_subtree)
              << '\n';
    std::size_t shown = 0;
    for (std::uint64_t id : programs->policy_cgroups()) {
        std::optional<std::string> path = k::cgroup_path(id);
        auto policy = programs->policy(id);
        if (!path || !policy) continue;
        const bg_policy& rules = **policy;
        std::string attached = programs->attached(*path);
        std::cout << "cgroup " << *path << ": " << k::cgroup_tree_pids(*path).size() << " processes; attached: "
                  << (attached.empty() ? "NOTHING" : attached) << "; " << rules.label << "; " << describe_rules(rules)
                  << '\n';
        ++shown;
    }
    if (shown == 0) std::cout << "cgroups: none protected\n";
    return kExitOk;
}

// Detaches everything and removes the pins. Returns 0, or 1 when processes are still
// protected and force is false (nothing is changed then).
int unload(bool force) {
    const k::Names names = k::names();
    std::optional<k::Programs> programs;
    try {
        programs = k::Programs::open_pinned(names.pin_dir);
    } catch (const k::KernelError& error) {
        // Incomplete or foreign pins: remove them all the same.
        std::cerr << "bindguard kernel unload: " << error.what() << "; removing the pins\n";
    }
    std::set<std::string> cgroups;
    if (programs)
        for (std::uint64_t id : programs->policy_cgroups())
            if (std::optional<std::string> path = k::cgroup_path(id)) cgroups.insert(*path);
    for (const std::string& path : k::subtree_cgroups(names.cgroup_subtree)) cgroups.insert(path);
    std::size_t busy = 0;
    for (const std::string& path : cgroups) busy += k::cgroup_tree_pids(path).empty() ? 0 : 1;
    if (busy > 0 && !force) {
        std::cerr << "bindguard kernel unload: " << busy << " protected cgroup(s) still have processes:\n";
        for (const std::string& path : cgroups)
            if (!k::cgroup_tree_pids(path).empty()) std::cerr << "  " << path << '\n';
        std::cerr << "stop them first, or use --force to leave them UNPROTECTED\n";
        return kExitFailure;
    }
    for (const std::string& path : cgroups) {
        if (programs) {
            programs->detach(path);
            if (auto id = [&]() -> std::uint64_t {
                    try {
                        return k::cgroup_id(path);
                    } catch (const k::KernelError&) {
                        return 0;
                    }
                }())
                programs->remove_policy(id);
        }
        const bool ours = path.starts_with(names.cgroup_subtree + "/");  // not a systemd unit's (kernel attach)
        if (k::cgroup_tree_pids(path).empty()) {
            if (ours) k::remove_cgroup(path);
        } else std::cerr << "bindguard kernel unload: warning: " << path << " is left UNPROTECTED (--force)\n";
    }
    programs.reset();
    const bool unpinned = k::unpin(names.pin_dir);
    // The log relays of `kernel attach` end (and remove their cgroups) within a second of
    // their rule sets' removal; the subtree can go once they have.
    for (int wait = 0; wait < 30 && !names.cgroup_subtree.empty() && ::rmdir(names.cgroup_subtree.c_str()) != 0 &&
                       (errno == EBUSY || errno == ENOTEMPTY);
         ++wait)
        ::usleep(100000);
    std::cout << (unpinned ? "unloaded: " : "unloaded, but something remained in ") << names.pin_dir << '\n';
    return unpinned ? kExitOk : kExitFailure;
}

}  // namespace

void add_kernel_command(CLI::App& app, CommandAction& action) {
    CLI::App* sub = app.add_subcommand(
        "kernel",
        "Show, attach or unload the kernel twin (the BPF programs of `run --kernel`).\n"
        "`status` shows the loaded BPF programs, the protected cgroups (`run --kernel`'s and the\n"
        "systemd units' of `protect --kernel`: attachments, processes, service, program and policy)\n"
        "and the events dropped; `attach`/`detach` protect the caller's own cgroup (a unit's\n"
        "ExecCondition=+/ExecStopPost=+); `unload` detaches the programs from every cgroup, removes\n"
        "the empty cgroups and unpins everything.");
    sub->require_subcommand(1);
    CLI::App* status_command = sub->add_subcommand("status", "Show what is loaded and where it is attached (exit 0).");
    status_command->callback([&action] {
        action = [](const std::vector<std::string>&) {
            try {
                return status();
            } catch (const k::KernelError& error) {
                std::cerr << "bindguard kernel status: " << error.what() << '\n';
                return kExitUsage;
            }
        };
    });
    add_kernel_attach_commands(*sub, action);
    auto force = std::make_shared<bool>(false);
    CLI::App* unload_command = sub->add_subcommand(
        "unload", "Detach and unpin everything. Refused (exit 1) while protected processes run, unless --force.");
    unload_command->add_flag("--force", *force, "Detach even from cgroups that still have processes (they run unprotected)");
    unload_command->callback([&action, force] {
        action = [force](const std::vector<std::string>&) {
            try {
                return unload(*force);
            } catch (const k::KernelError& error) {
                std::cerr << "bindguard kernel unload: " << error.what() << '\n';
                return kExitUsage;
            }
        };
    });
}

}  // namespace bindguard::cli
