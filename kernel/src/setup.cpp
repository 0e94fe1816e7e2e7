// ProtectedCgroup: the kernel twin's set-up of a cgroup, and its undoing.
#include "bindguard/kernel_setup.hpp"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>

namespace bindguard::kernel {

Fd& Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

void Fd::reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

std::string service_name(const std::string& given, const std::string& fallback) {
    if (!given.empty()) return given;
    if (const char* env = ::getenv("BINDGUARD_SERVICE"); env != nullptr && *env != '\0') return env;
    return fallback;
}

std::string protection_label(const Protection& protection) {
    return "service=" + (protection.service.empty() ? std::string("-") : protection.service) +
           " program=" + (protection.program.empty() ? std::string("-") : protection.program) +
           " policy=" + (protection.policy_path.empty() ? std::string("<built-in>") : protection.policy_path);
}

namespace {

// The programs, open or loaded, with a warning when they come from another build.
Programs open_programs(const Names& names, const Protection& protection) {
    Programs programs = Programs::open_or_load(names.pin_dir);
    if (programs.loaded_build() != embedded_build() && protection.warn)
        protection.warn("the BPF programs loaded under " + names.pin_dir +
                        " come from another bindguard build; they are used as they are (same layout). Run "
                        "`bindguard kernel unload` when nothing runs under them to load this build's.");
    return programs;
}

// What the relay writes the cgroup's decisions with; ring: the cgroup's ring buffer or -1.
RelaySettings relay_settings(const Protection& protection, int ring, int stderr_fd) {
    return RelaySettings{protection.policy, protection.program, protection.service, ring, stderr_fd};
}

}  // namespace

ProtectedCgroup ProtectedCgroup::make_new(const Protection& protection, int stderr_fd) {
    ProtectedCgroup cgroup;
    try {
        const Names names = kernel::names();
        if (names.cgroup_subtree.empty())
            throw KernelError("cgroup v2 is not mounted (no cgroup2 line in /proc/self/mountinfo)");
        cgroup.pin_dir_ = names.pin_dir;
        cgroup.label_ = protection_label(protection);
        std::unique_ptr<bg_policy> compiled = compile_policy(protection.policy, cgroup.label_);
        cgroup.programs_.emplace(open_programs(names, protection));
        sweep(*cgroup.programs_, names.cgroup_subtree);
        cgroup.path_ = make_cgroup(names.cgroup_subtree, CgroupKind::run);
        cgroup.made_ = true;
        cgroup.id_ = cgroup_id(cgroup.path_);
        cgroup.programs_->set_policy(cgroup.id_, *compiled);  // before the programs can run for anyone in it
        cgroup.stored_ = true;
        Fd ring(wants_log(protection.policy) ? cgroup.programs_->make_ring(cgroup.id_) : -1);
        cgroup.programs_->attach(cgroup.path_);
        // The reaper has its own copy of the ring; ours is closed when this returns.
        cgroup.reaper_ = Fd(start_reaper(cgroup.path_, cgroup.id_, cgroup.pin_dir_,
                                         relay_settings(protection, ring.get(), stderr_fd)));
    } catch (const KernelError& error) {
        cgroup.undo();
        throw SetupError(error.what(), {});
    }
    return cgroup;
}

ProtectedCgroup ProtectedCgroup::attach_existing(const std::string& path, const Protection& protection,
                                                 int stderr_fd) {
    ProtectedCgroup cgroup;
    cgroup.path_ = path;
    try {
        const Names names = kernel::names();
        cgroup.pin_dir_ = names.pin_dir;
        cgroup.label_ = protection_label(protection);
        std::unique_ptr<bg_policy> compiled = compile_policy(protection.policy, cgroup.label_);
        cgroup.programs_.emplace(open_programs(names, protection));
        cgroup.attached_before_ = !cgroup.programs_->attached(path).empty();
        sweep(*cgroup.programs_, names.cgroup_subtree);
        cgroup.id_ = cgroup_id(path);
        cgroup.programs_->set_policy(cgroup.id_, *compiled);  // before the programs can run for anyone in it
        cgroup.stored_ = true;
        Fd ring;
        // A new ring replaces an earlier attach's (its relay ends); without one, an earlier
        // attach's relay must not go on with the old [log].
        if (wants_log(protection.policy)) ring = Fd(cgroup.programs_->make_ring(cgroup.id_));
        else cgroup.programs_->remove_ring(cgroup.id_);
        cgroup.programs_->attach(path);
        start_relay(names.cgroup_subtree, cgroup.id_, cgroup.pin_dir_, relay_settings(protection, ring.get(), stderr_fd));
    } catch (const KernelError& error) {
        // Undone, unless processes of an earlier start still run there under an earlier
        // attach: they stay protected (with whichever rule set is stored).
        std::vector<int> others = cgroup.attached_before_ ? other_processes(path) : std::vector<int>{};
        if (others.empty()) cgroup.undo();
        cgroup.committed_ = true;  // nothing more to undo
        throw SetupError(error.what(), std::move(others));
    }
    return cgroup;
}

ProtectedCgroup::ProtectedCgroup(ProtectedCgroup&& other) noexcept
    : path_(std::move(other.path_)),
      label_(std::move(other.label_)),
      pin_dir_(std::move(other.pin_dir_)),
      made_(other.made_),
      attached_before_(other.attached_before_),
      stored_(other.stored_),
      committed_(std::exchange(other.committed_, true)),
      id_(other.id_),
      programs_(std::move(other.programs_)),
      reaper_(std::move(other.reaper_)) {}

ProtectedCgroup::~ProtectedCgroup() {
    if (committed_) return;
    // What an earlier attach protects stays while other processes run under it.
    if (attached_before_ && !other_processes(path_).empty()) return;
    undo();
}

void ProtectedCgroup::undo() noexcept {
    committed_ = true;
    if (reaper_) {
        // The reaper, told nothing, removes the cgroup and its rule set at once.
        reaper_.reset();
        return;
    }
    try {
        if (programs_ && !path_.empty()) {
            programs_->detach(path_);
            if (stored_) programs_->remove_policy(id_);
        }
        if (made_) remove_cgroup(path_);
    } catch (...) {
        // Best effort: what is left is sweep()'s.
    }
}

void ProtectedCgroup::commit() {
    if (committed_) return;
    if (reaper_) {
        try {
            join_cgroup(path_);
        } catch (const KernelError& error) {
            undo();  // closes the channel: the reaper removes the cgroup at once
            throw SetupError(error.what(), {});
        }
        (void)!::send(reaper_.get(), "j", 1, MSG_NOSIGNAL);
        reaper_.reset();
    }
    committed_ = true;
}

}  // namespace bindguard::kernel
