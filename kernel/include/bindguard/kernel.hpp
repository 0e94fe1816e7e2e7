// bindguard's kernel twin: the policy applied by cgroup BPF programs.
//
// compile_policy() turns the rules that apply to one process (policy/for_process) into
// the flat rule set the BPF programs read (bindguard_abi.h). Programs loads the
// programs and maps once and pins them under a directory of the BPF filesystem
// (/sys/fs/bpf/bindguard/), attaches them to a cgroup and stores a cgroup's rule set.
// The cgroup functions find cgroup v2 from /proc/self/mountinfo and make, join and
// remove the cgroups of the protected processes (under <cgroup2>/bindguard/).
//
// Errors are thrown as KernelError with a message that says what failed and why
// (the command prints it and exits 126: nothing runs unprotected).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindguard/policy.hpp"
#include "bindguard_abi.h"

namespace bindguard::kernel {

struct KernelError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Where one installation keeps its state: the pins (<bpffs>/<name>/) and the cgroup
// subtree (<cgroup2>/<name>/). name is "bindguard" unless BINDGUARD_KERNEL_NAME sets
// another (the tests use their own, so that they can remove all of it).
struct Names {
    std::string name;
    std::string pin_dir;         // /sys/fs/bpf/<name>
    std::string cgroup_subtree;  // <cgroup2 mount>/<name>; empty when cgroup v2 is not mounted
};
// Returns the names for this process (reads BINDGUARD_KERNEL_NAME and /proc/self/mountinfo).
// Throws KernelError when BINDGUARD_KERNEL_NAME is not a plain name (no '/', no "..").
Names names();

// ---- compiling -------------------------------------------------------------------

// The rule set for the BPF programs: policy must already be for one process
// (image::process_policy() of the compiled image), since the programs cannot match
// program, command or service.
// label is kept for `bindguard kernel status`. Throws KernelError when the rules need
// more than BG_MAX_ENTRIES entries (each rule takes |addresses| x |ports| of them).
std::unique_ptr<bg_policy> compile_policy(const Policy& policy, const std::string& label);

// The name of the rule that decided an event (rule index or BG_RULE_*), as decide() names it.
std::string rule_name(const Policy& policy, std::uint16_t rule);

// ---- cgroups ------------------------------------------------------------------------

// The mount point of cgroup v2, from /proc/self/mountinfo; empty when there is none.
std::string cgroup2_mount();
// The cgroup id (the kernel's, as bpf_get_current_cgroup_id() gives) of the cgroup at path.
// Throws KernelError.
std::uint64_t cgroup_id(const std::string& path);
// The path of the live cgroup with this id (through open_by_handle_at on the cgroup2
// mount), or nullopt when it no longer exists or cannot be looked up.
std::optional<std::string> cgroup_path(std::uint64_t id);
// True only when the kernel says that no cgroup has this id any more (ESTALE); false
// when it exists or when that cannot be told (no cgroup2 mount in this mount namespace).
bool cgroup_gone(std::uint64_t id);
// The cgroups kernel/ makes under an installation's subtree, and the only place their
// names are given and read: run-PID[-N] for a `run --kernel` (PID: the command's, which
// the program becomes), relay-PID for the log relay of a `kernel attach` (PID: the relay's).
enum class CgroupKind : std::uint8_t { run, relay };
// Makes a new cgroup of kind named for this process (KIND-PID, or KIND-PID-N when taken)
// under parent (made when missing). Returns its path. Throws KernelError.
std::string make_cgroup(const std::string& parent, CgroupKind kind);
// The kind and PID of a cgroup's name (its last component), or nullopt when it is
// neither kind's.
struct CgroupName {
    CgroupKind kind;
    int pid;
};
std::optional<CgroupName> parse_cgroup_name(const std::string& name);
// The cgroups directly under subtree but the log relays' (relay-PID, never protected; each
// ends when its rule set is removed). Returns their paths.
std::vector<std::string> subtree_cgroups(const std::string& subtree);
// Moves the calling process into the cgroup. Throws KernelError.
void join_cgroup(const std::string& path);
// True when a process is in the cgroup or below ("populated 1" in cgroup.events).
bool cgroup_populated(const std::string& path);
// Removes the cgroup and its (empty) descendants. Returns false when one is busy.
bool remove_cgroup(const std::string& path);
// The pids in cgroup.procs of path.
std::vector<int> cgroup_pids(const std::string& path);
// The pids in the cgroup at path and in every cgroup below it (a unit's delegated
// sub-cgroups, its ".control").
std::vector<int> cgroup_tree_pids(const std::string& path);
// cgroup_tree_pids(path) but this process.
std::vector<int> other_processes(const std::string& path);

// ---- the loaded programs ------------------------------------------------------------

struct Stats {
    std::uint64_t events = 0;   // decisions written to the ring buffer
    std::uint64_t dropped = 0;  // decisions lost because the ring buffer was full
};

class Programs {
public:
    // Opens the programs and maps pinned under pin_dir; loads and pins them first when
    // nothing is pinned there (mounting the BPF filesystem at /sys/fs/bpf when needed).
    // Throws KernelError (not root, no BPF, pins of another ABI or incomplete).
    static Programs open_or_load(const std::string& pin_dir);
    // Opens what is pinned under pin_dir; nullopt when nothing is. Throws KernelError
    // when the pins are incomplete or of another ABI.
    static std::optional<Programs> open_pinned(const std::string& pin_dir);

    Programs(Programs&&) noexcept;
    Programs& operator=(Programs&&) noexcept;
    Programs(const Programs&) = delete;
    Programs& operator=(const Programs&) = delete;
    ~Programs();

    // Attaches bind4, bind6 and sockops to the cgroup at path (multi-attach: the
    // cgroup's other programs stay); one already attached there stays as it is. Throws
    // KernelError (and detaches what this call attached).
    void attach(const std::string& cgroup) const;
    // Detaches them from the cgroup at path. Returns false when they were not attached.
    bool detach(const std::string& cgroup) const;
    // Which of bind4/bind6/sockops of ours are attached to the cgroup at path ("bind4 bind6 sockops").
    std::string attached(const std::string& cgroup) const;

    // The cgroup's rule set: store, remove (with its ring buffer), read, list. set_policy
    // throws KernelError.
    void set_policy(std::uint64_t cgroup, const bg_policy& policy) const;
    void remove_policy(std::uint64_t cgroup) const;
    std::optional<std::unique_ptr<bg_policy>> policy(std::uint64_t cgroup) const;
    std::vector<std::uint64_t> policy_cgroups() const;

    // Makes the cgroup's event ring buffer (BG_RING_BYTES) and registers it, so that the
    // programs report that cgroup's decisions into it. Returns its fd (close-on-exec; the
    // caller owns it). Throws KernelError.
    int make_ring(std::uint64_t cgroup) const;
    // Unregisters the cgroup's ring buffer (its decisions are no longer reported; the relay
    // that read it ends). Nothing when there is none.
    void remove_ring(std::uint64_t cgroup) const;

    // True when the process pid is in a protected cgroup or below one (its cgroup v2 path
    // from /proc/PID/cgroup, then each ancestor, has a rule set); nullopt when that cannot
    // be read (the process has gone, or no cgroup2 mount in this mount namespace).
    std::optional<bool> protects(int pid) const;

    Stats stats() const;
    // Kernel ids of bind4, bind6, sockops (for status).
    std::vector<std::uint32_t> program_ids() const;
    // The build (embedded_build()) the pinned programs were loaded from.
    std::uint32_t loaded_build() const { return loaded_build_; }

private:
    Programs() = default;
    int bind4_ = -1, bind6_ = -1, sockops_ = -1;
    int policies_ = -1, rings_ = -1, stats_ = -1, info_ = -1;
    std::uint32_t loaded_build_ = 0;
};

// A hash of the BPF object embedded in this command. Pinned programs of the same ABI but
// another build are still used (upgrading must not need every protected service stopped);
// `run --kernel` warns and `kernel status` says so.
std::uint32_t embedded_build();

// Removes every pin under pin_dir and the directory. Returns false when something remained.
bool unpin(const std::string& pin_dir);

// Deletes the rule sets of cgroups that no longer exist, and removes empty cgroups
// under subtree named run-PID or relay-PID whose PID is gone (a reaper or relay that ended).
// Returns how many rule sets were deleted.
int sweep(const Programs& programs, const std::string& subtree);

// ---- the reaper and log relay ----------------------------------------------------

// What the relay needs to write a cgroup's decisions as the library writes its own.
struct RelaySettings {
    Policy policy;        // the process's rules (for_process): rule names, mode, [log]
    std::string program;  // the program that was run (for a process that has gone)
    std::string service;  // "" when none
    int ring = -1;        // the cgroup's ring buffer (Programs::make_ring); -1: nothing to relay
    int stderr_fd = -1;   // where `log.to = "stderr"` writes: the command's stderr
    // The file stderr_fd referred to when the relay started (set by the relay): written
    // only while it still does.
    dev_t stderr_device = 0;
    ino_t stderr_inode = 0;
};

// True when policy's [log] asks for the kernel's decisions (level info or debug, a sink).
bool wants_log(const Policy& policy);

// The relay's lines: bindguard/event_line.hpp.

// Starts the process that relays the cgroup's decisions to the policy's log sink and
// removes the cgroup at path (and its rule set) once it has been joined and has emptied
// again. It is detached (double fork, own session, stdio on /dev/null; it keeps only the
// ring buffer and the log descriptor), so the program that is exec'd never sees it.
// Returns the command's end of a socket pair: send one byte (MSG_NOSIGNAL) after joining
// the cgroup; closing it without a byte (a failed start) lets it clean up at once.
// Throws KernelError.
int start_reaper(const std::string& cgroup, std::uint64_t id, const std::string& pin_dir,
                 const RelaySettings& relay);

// True while the reaper of the cgroup at path lives (it holds a lock on the cgroup's
// directory for its whole life): sweep() then leaves the cgroup and its rule set to it.
bool reaper_holds(const std::string& path);

// For a cgroup someone else owns (a systemd unit's, `bindguard kernel attach`): starts the
// process that relays the cgroup's decisions (relay.ring) to the policy's log sink until
// the cgroup's rule set is removed or replaced (`kernel detach`, or a new attach) or the
// cgroup is gone. It is detached as start_reaper's, and leaves the caller's cgroup for a
// cgroup of its own under subtree (relay-PID) before this returns, so that it never keeps
// the unit's cgroup populated nor passes for its main process. Throws KernelError.
void start_relay(const std::string& subtree, std::uint64_t id, const std::string& pin_dir,
                 const RelaySettings& relay);

}  // namespace bindguard::kernel
