// Programs: the BPF programs and maps, loaded once from the embedded skeleton and
// pinned under the BPF filesystem, then opened from the pins by every later command.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <fstream>
#include <tuple>
#include <utility>

#include "bindguard.skel.h"
#include "bindguard/kernel.hpp"

namespace bindguard::kernel {
namespace {

constexpr const char* kBpfFs = "/sys/fs/bpf";

// The pin names under the pin directory, and which attach type each program takes.
constexpr const char* kPinBind4 = "prog_bind4";
constexpr const char* kPinBind6 = "prog_bind6";
constexpr const char* kPinSockops = "prog_sockops";
constexpr const char* kPinPolicies = "map_policies";
constexpr const char* kPinRings = "map_rings";
constexpr const char* kPinStats = "map_stats";
constexpr const char* kPinInfo = "map_info";
constexpr const char* kAllPins[] = {kPinBind4, kPinBind6, kPinSockops, kPinPolicies, kPinRings, kPinStats, kPinInfo};

KernelError system_error(const std::string& what, int error = errno) {
    std::string reason = std::strerror(error);
    if (error == EPERM || error == EACCES)
        reason += " (the kernel twin needs root: CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)";
    return KernelError(what + ": " + reason);
}

// libbpf's messages of the current load, kept for the error message (the verifier's log).
std::string& libbpf_messages() {
    static std::string messages;
    return messages;
}

int keep_libbpf_message(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    char line[1024];
    int n = std::vsnprintf(line, sizeof line, format, args);
    std::string& messages = libbpf_messages();
    if (messages.size() < 64 * 1024) messages += line;
    return n;
}

// Mounts the BPF filesystem at /sys/fs/bpf unless it is there. Throws KernelError.
void ensure_bpffs() {
    struct statfs fs{};
    if (::statfs(kBpfFs, &fs) == 0 && fs.f_type == BPF_FS_MAGIC) return;
    if (::mount("bpf", kBpfFs, "bpf", 0, "mode=0700") != 0)
        throw system_error(std::string("cannot mount the BPF filesystem at ") + kBpfFs);
}

// A held flock on the pin directory, so that two commands do not load twice.
class DirectoryLock {
public:
    explicit DirectoryLock(const std::string& path) {
        fd_ = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_ < 0) throw system_error("cannot open " + path);
        if (::flock(fd_, LOCK_EX) != 0) {
            int error = errno;
            ::close(fd_);
            throw system_error("cannot lock " + path, error);
        }
    }
    ~DirectoryLock() { ::close(fd_); }
    DirectoryLock(const DirectoryLock&) = delete;
    DirectoryLock& operator=(const DirectoryLock&) = delete;

private:
    int fd_ = -1;
};

// How many of the pins exist under pin_dir.
int pins_present(const std::string& pin_dir) {
    int present = 0;
    for (const char* pin : kAllPins)
        if (::access((pin_dir + "/" + pin).c_str(), F_OK) == 0) ++present;
    return present;
}

std::uint32_t object_id(int fd) {
    bpf_prog_info info{};
    std::uint32_t length = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &length) != 0) return 0;
    return info.id;
}

}  // namespace

std::uint32_t embedded_build() {
    // FNV-1a over the embedded BPF object: any change of the programs changes it.
    std::size_t size = 0;
    const auto* bytes = static_cast<const unsigned char*>(bindguard_bpf__elf_bytes(&size));
    std::uint32_t hash = 2166136261u;
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 16777619u;
    return hash;
}

namespace {

// Loads the embedded programs and pins them and their maps under pin_dir. Throws KernelError.
void load_and_pin(const std::string& pin_dir) {
    libbpf_messages().clear();
    libbpf_set_print(keep_libbpf_message);
    bindguard_bpf* skeleton = bindguard_bpf__open_and_load();
    if (skeleton == nullptr) {
        int error = errno;
        std::string log = libbpf_messages();
        if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
        throw KernelError(system_error("cannot load the BPF programs", error).what() +
                          std::string(log.empty() ? "" : "\n" + log));
    }
    auto cleanup = [&] { bindguard_bpf__destroy(skeleton); };
    std::uint32_t abi_key = BG_INFO_ABI, abi = BG_ABI_VERSION, build_key = BG_INFO_BUILD, build = embedded_build();
    if (bpf_map__update_elem(skeleton->maps.bg_info, &abi_key, sizeof abi_key, &abi, sizeof abi, BPF_ANY) != 0 ||
        bpf_map__update_elem(skeleton->maps.bg_info, &build_key, sizeof build_key, &build, sizeof build, BPF_ANY) != 0) {
        int error = errno;
        cleanup();
        throw system_error("cannot write the BPF info map", error);
    }
    struct {
        const char* name;
        bpf_map* map;
    } maps[] = {{kPinPolicies, skeleton->maps.bg_policies}, {kPinRings, skeleton->maps.bg_rings},
                {kPinStats, skeleton->maps.bg_stats}, {kPinInfo, skeleton->maps.bg_info}};
    struct {
        const char* name;
        bpf_program* program;
    } programs[] = {{kPinBind4, skeleton->progs.bg_bind4}, {kPinBind6, skeleton->progs.bg_bind6},
                    {kPinSockops, skeleton->progs.bg_sockops}};
    for (auto& [name, map] : maps) {
        if (bpf_map__pin(map, (pin_dir + "/" + name).c_str()) != 0) {
            int error = errno;
            cleanup();
            unpin(pin_dir);
            throw system_error("cannot pin the BPF map " + pin_dir + "/" + name, error);
        }
    }
    for (auto& [name, program] : programs) {
        if (bpf_program__pin(program, (pin_dir + "/" + name).c_str()) != 0) {
            int error = errno;
            cleanup();
            unpin(pin_dir);
            throw system_error("cannot pin the BPF program " + pin_dir + "/" + name, error);
        }
    }
    cleanup();
}

// Opens one pin (BPF descriptors are close-on-exec). Returns its fd; throws KernelError.
int open_pin(const std::string& pin_dir, const char* name) {
    const std::string path = pin_dir + "/" + name;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) throw system_error("cannot open the pinned " + path, errno);
    return fd;
}

void close_if_open(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

// The cgroup directory at path, opened. Throws KernelError.
int open_cgroup(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot open the cgroup " + path);
    return fd;
}

}  // namespace

Programs Programs::open_or_load(const std::string& pin_dir) {
    ensure_bpffs();
    if (::mkdir(pin_dir.c_str(), 0700) != 0 && errno != EEXIST) throw system_error("cannot make " + pin_dir);
    DirectoryLock lock(pin_dir);
    if (pins_present(pin_dir) == 0) load_and_pin(pin_dir);
    std::optional<Programs> programs = open_pinned(pin_dir);
    if (!programs) throw KernelError("the BPF programs pinned under " + pin_dir + " disappeared while opening them");
    return std::move(*programs);
}

std::optional<Programs> Programs::open_pinned(const std::string& pin_dir) {
    const int present = pins_present(pin_dir);
    if (present == 0) return std::nullopt;
    if (present != static_cast<int>(std::size(kAllPins)))
        throw KernelError("the pins under " + pin_dir + " are incomplete (another bindguard version, or an "
                          "interrupted load); remove them with `bindguard kernel unload`");
    Programs p;
    p.bind4_ = open_pin(pin_dir, kPinBind4);
    p.bind6_ = open_pin(pin_dir, kPinBind6);
    p.sockops_ = open_pin(pin_dir, kPinSockops);
    p.policies_ = open_pin(pin_dir, kPinPolicies);
    p.rings_ = open_pin(pin_dir, kPinRings);
    p.stats_ = open_pin(pin_dir, kPinStats);
    p.info_ = open_pin(pin_dir, kPinInfo);
    std::uint32_t zero = BG_INFO_ABI, abi = 0, build_key = BG_INFO_BUILD;
    bpf_map_info info{};
    std::uint32_t length = sizeof info;
    if (bpf_map_lookup_elem(p.info_, &zero, &abi) != 0 || abi != BG_ABI_VERSION ||
        bpf_obj_get_info_by_fd(p.policies_, &info, &length) != 0 || info.value_size != sizeof(bg_policy))
        throw KernelError("the BPF programs pinned under " + pin_dir + " are of another bindguard version "
                          "(layout " + std::to_string(abi) + ", this one " + std::to_string(BG_ABI_VERSION) +
                          "); stop what runs under them and run `bindguard kernel unload`");
    bpf_map_lookup_elem(p.info_, &build_key, &p.loaded_build_);
    return p;
}

Programs::Programs(Programs&& other) noexcept { *this = std::move(other); }

Programs& Programs::operator=(Programs&& other) noexcept {
    if (this == &other) return *this;
    for (int* fd : {&bind4_, &bind6_, &sockops_, &policies_, &rings_, &stats_, &info_}) close_if_open(*fd);
    bind4_ = std::exchange(other.bind4_, -1);
    bind6_ = std::exchange(other.bind6_, -1);
    sockops_ = std::exchange(other.sockops_, -1);
    policies_ = std::exchange(other.policies_, -1);
    rings_ = std::exchange(other.rings_, -1);
    stats_ = std::exchange(other.stats_, -1);
    info_ = std::exchange(other.info_, -1);
    loaded_build_ = other.loaded_build_;
    return *this;
}

Programs::~Programs() {
    for (int* fd : {&bind4_, &bind6_, &sockops_, &policies_, &rings_, &stats_, &info_}) close_if_open(*fd);
}

void Programs::attach(const std::string& cgroup) const {
    // Already attached there (a unit restarted without its detach): kept. The kernel
    // refuses the same program twice on one cgroup (EINVAL).
    const std::string already = " " + attached(cgroup) + " ";
    int cg = open_cgroup(cgroup);
    const std::tuple<int, bpf_attach_type, const char*> attachments[] = {{bind4_, BPF_CGROUP_INET4_BIND, " bind4 "},
                                                                         {bind6_, BPF_CGROUP_INET6_BIND, " bind6 "},
                                                                         {sockops_, BPF_CGROUP_SOCK_OPS, " sockops "}};
    bool made[std::size(attachments)] = {};
    for (std::size_t i = 0; i < std::size(attachments); ++i) {
        const auto& [fd, type, name] = attachments[i];
        if (already.find(name) != std::string::npos) continue;
        if (bpf_prog_attach(fd, cg, type, BPF_F_ALLOW_MULTI) == 0) {
            made[i] = true;
        } else {
            int error = errno;
            for (std::size_t j = 0; j < i; ++j)
                if (made[j]) bpf_prog_detach2(std::get<0>(attachments[j]), cg, std::get<1>(attachments[j]));
            ::close(cg);
            throw system_error("cannot attach the BPF programs to the cgroup " + cgroup, error);
        }
    }
    ::close(cg);
}

bool Programs::detach(const std::string& cgroup) const {
    int cg = ::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) return false;
    bool any = false;
    any |= bpf_prog_detach2(bind4_, cg, BPF_CGROUP_INET4_BIND) == 0;
    any |= bpf_prog_detach2(bind6_, cg, BPF_CGROUP_INET6_BIND) == 0;
    any |= bpf_prog_detach2(sockops_, cg, BPF_CGROUP_SOCK_OPS) == 0;
    ::close(cg);
    return any;
}

std::string Programs::attached(const std::string& cgroup) const {
    int cg = ::open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) return "";
    std::string result;
    const std::tuple<int, bpf_attach_type, const char*> kinds[] = {{bind4_, BPF_CGROUP_INET4_BIND, "bind4"},
                                                                   {bind6_, BPF_CGROUP_INET6_BIND, "bind6"},
                                                                   {sockops_, BPF_CGROUP_SOCK_OPS, "sockops"}};
    for (const auto& [fd, type, name] : kinds) {
        std::uint32_t ids[64];
        std::uint32_t count = std::size(ids);
        std::uint32_t flags = 0;
        if (bpf_prog_query(cg, type, 0, &flags, ids, &count) != 0) continue;
        const std::uint32_t ours = object_id(fd);
        for (std::uint32_t i = 0; i < count; ++i)
            if (ids[i] == ours) result += (result.empty() ? "" : " ") + std::string(name);
    }
    ::close(cg);
    return result;
}

void Programs::set_policy(std::uint64_t cgroup, const bg_policy& policy) const {
    if (bpf_map_update_elem(policies_, &cgroup, &policy, BPF_ANY) != 0)
        throw system_error("cannot store the cgroup's rule set in the BPF map");
}

void Programs::remove_policy(std::uint64_t cgroup) const {
    bpf_map_delete_elem(policies_, &cgroup);
    bpf_map_delete_elem(rings_, &cgroup);
}

int Programs::make_ring(std::uint64_t cgroup) const {
    int ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "bg_ring", 0, 0, BG_RING_BYTES, nullptr);
    if (ring < 0) throw system_error("cannot make the cgroup's event ring buffer");
    if (bpf_map_update_elem(rings_, &cgroup, &ring, BPF_ANY) != 0) {
        int error = errno;
        ::close(ring);
        throw system_error("cannot register the cgroup's event ring buffer", error);
    }
    return ring;
}

void Programs::remove_ring(std::uint64_t cgroup) const { bpf_map_delete_elem(rings_, &cgroup); }

std::optional<std::unique_ptr<bg_policy>> Programs::policy(std::uint64_t cgroup) const {
    auto value = std::make_unique<bg_policy>();
    if (bpf_map_lookup_elem(policies_, &cgroup, value.get()) != 0) return std::nullopt;
    return value;
}

std::vector<std::uint64_t> Programs::policy_cgroups() const {
    std::vector<std::uint64_t> ids;
    std::uint64_t key = 0, next = 0;
    const void* previous = nullptr;
    while (bpf_map_get_next_key(policies_, previous, &next) == 0) {
        ids.push_back(next);
        key = next;
        previous = &key;
    }
    return ids;
}

std::optional<bool> Programs::protects(int pid) const {
    const std::string mount = cgroup2_mount();
    if (mount.empty()) return std::nullopt;
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string line, path;
    while (std::getline(in, line))
        if (line.starts_with("0::")) path = line.substr(3);
    if (path.empty() || path.ends_with(" (deleted)")) return std::nullopt;
    for (;;) {
        std::uint64_t id = 0;
        try {
            id = cgroup_id(mount + (path == "/" ? "" : path));
        } catch (const KernelError&) {
            return std::nullopt;
        }
        std::vector<std::uint8_t> value(sizeof(bg_policy));
        if (bpf_map_lookup_elem(policies_, &id, value.data()) == 0) return true;
        if (path == "/" || path.empty()) return false;
        path = path.substr(0, path.rfind('/'));
        if (path.empty()) path = "/";
    }
}

Stats Programs::stats() const {
    Stats stats;
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return stats;
    std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
    for (std::uint32_t which : {std::uint32_t{BG_STAT_EVENTS}, std::uint32_t{BG_STAT_DROPPED}}) {
        if (bpf_map_lookup_elem(stats_, &which, values.data()) != 0) continue;
        std::uint64_t sum = 0;
        for (std::uint64_t v : values) sum += v;
        (which == BG_STAT_EVENTS ? stats.events : stats.dropped) = sum;
    }
    return stats;
}

std::vector<std::uint32_t> Programs::program_ids() const {
    return {object_id(bind4_), object_id(bind6_), object_id(sockops_)};
}

bool unpin(const std::string& pin_dir) {
    for (const char* pin : kAllPins) ::unlink((pin_dir + "/" + pin).c_str());
    return ::rmdir(pin_dir.c_str()) == 0 || errno == ENOENT;
}

}  // namespace bindguard::kernel
