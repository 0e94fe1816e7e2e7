// Protecting a cgroup with the kernel twin, in one place: what `bindguard run --kernel`
// (a new cgroup of its own that it then joins) and `bindguard kernel attach` (the
// caller's cgroup, a systemd unit's) both do. The steps: compile the process's rules,
// load the programs or open their pins, sweep what ended, store the rule set, make the
// ring buffer when [log] wants the decisions, attach, start the reaper or relay. A
// ProtectedCgroup owns what it made (its descriptors, the cgroup it named) and undoes all
// of it unless committed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bindguard/kernel.hpp"

namespace bindguard::kernel {

// A file descriptor that is closed when its owner goes.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    // Closes it (nothing when there is none).
    void reset() noexcept;

private:
    int fd_ = -1;
};

// What a cgroup is protected with.
struct Protection {
    Policy policy;            // the rules that apply to the process (image::process_policy)
    std::string program;      // the program's resolved path; "" when unknown
    std::string service;      // "" when none
    std::string policy_path;  // the policy's file, absolute; "" for the built-in policy
    // Prints a warning (the pinned programs come from another build); may be empty.
    std::function<void(const std::string&)> warn;
};

// The service name of a protected process: given, else BINDGUARD_SERVICE, else fallback.
std::string service_name(const std::string& given, const std::string& fallback = "");

// What `kernel status` shows for a rule set: "service=S program=P policy=FILE" ("-" for
// none, "<built-in>" for the built-in policy).
std::string protection_label(const Protection& protection);

// A failed set-up. kept_for: the other processes in a cgroup that an earlier attach still
// protects; the programs attached then were left in place for them (empty: everything
// was undone).
struct SetupError : KernelError {
    SetupError(const std::string& message, std::vector<int> kept) : KernelError(message), kept_for(std::move(kept)) {}
    std::vector<int> kept_for;
};

class ProtectedCgroup {
public:
    // `run --kernel`: a new cgroup under the installation's subtree (run-PID, a name only
    // kernel/ gives and reads), protected, with its reaper (which relays its decisions and
    // removes it once it has been joined and has emptied). commit() moves this process into
    // it. stderr_fd: where `log.to = "stderr"` writes. Throws SetupError (undone).
    static ProtectedCgroup make_new(const Protection& protection, int stderr_fd);
    // `kernel attach`: the existing cgroup at path, protected, with its log relay (in a
    // relay-PID cgroup of its own). Already attached there by an earlier attach: kept, its
    // rule set replaced. Throws SetupError: undone, but for the programs attached before
    // while other processes still run in the cgroup.
    static ProtectedCgroup attach_existing(const std::string& path, const Protection& protection, int stderr_fd);

    ProtectedCgroup(ProtectedCgroup&&) noexcept;
    ProtectedCgroup& operator=(ProtectedCgroup&&) = delete;
    ProtectedCgroup(const ProtectedCgroup&) = delete;
    ProtectedCgroup& operator=(const ProtectedCgroup&) = delete;
    // Undoes everything unless committed.
    ~ProtectedCgroup();

    // Keeps the protection. make_new's: moves this process into the cgroup first and lets
    // the reaper go on (throws SetupError when it cannot: then undone).
    void commit();

    const std::string& path() const { return path_; }
    const std::string& label() const { return label_; }
    // True when the programs were attached to the cgroup before (kept by a detach for
    // processes left behind).
    bool attached_before() const { return attached_before_; }

private:
    ProtectedCgroup() = default;
    // Detaches, removes the rule set and (for one made here) the cgroup; once the reaper
    // has started, leaves that to it.
    void undo() noexcept;

    std::string path_;
    std::string label_;
    std::string pin_dir_;
    bool made_ = false;            // the cgroup is ours (make_new)
    bool attached_before_ = false;
    bool stored_ = false;          // the rule set is stored
    bool committed_ = false;
    std::uint64_t id_ = 0;
    std::optional<Programs> programs_;
    Fd reaper_;                    // make_new: the reaper's channel (one byte once joined)
};

}  // namespace bindguard::kernel
