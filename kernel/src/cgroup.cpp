// cgroup v2: finding its mount, ids and paths, making, joining and removing cgroups.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bindguard/kernel.hpp"

namespace bindguard::kernel {
namespace {

// "what: strerror(errno)" as a KernelError.
KernelError system_error(const std::string& what, int error = errno) {
    return KernelError(what + ": " + std::strerror(error));
}

// Undoes the octal escapes of /proc/self/mountinfo (\040 for a space, ...). Returns the text.
std::string unescape_mountinfo(const std::string& field) {
    std::string out;
    for (std::size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size()) {
            out += static_cast<char>(std::strtol(field.substr(i + 1, 3).c_str(), nullptr, 8));
            i += 3;
        } else {
            out += field[i];
        }
    }
    return out;
}

}  // namespace

std::string cgroup2_mount() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        std::istringstream fields(line);
        std::string id, parent, device, root, mount_point, word;
        fields >> id >> parent >> device >> root >> mount_point;
        while (fields >> word && word != "-") {
        }
        std::string type;
        fields >> type;
        if (type == "cgroup2" && root == "/") return unescape_mountinfo(mount_point);
    }
    return {};
}

Names names() {
    Names result;
    const char* name = std::getenv("BINDGUARD_KERNEL_NAME");
    result.name = name != nullptr && *name != '\0' ? name : "bindguard";
    // It becomes a directory name under /sys/fs/bpf and the cgroup2 mount.
    const bool plain = result.name.size() <= 64 && result.name[0] != '.' &&
                       result.name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") ==
                           std::string::npos;
    if (!plain)
        throw KernelError("BINDGUARD_KERNEL_NAME \"" + result.name +
                          "\" is not a plain name (letters, digits, '_', '.', '-'; at most 64; not starting with '.')");
    result.pin_dir = "/sys/fs/bpf/" + result.name;
    std::string mount = cgroup2_mount();
    if (!mount.empty()) result.cgroup_subtree = mount + "/" + result.name;
    return result;
}

std::uint64_t cgroup_id(const std::string& path) {
    // A cgroup v2 directory's file handle is its 64-bit kernfs id, which is the id
    // bpf_get_current_cgroup_id() returns.
    alignas(file_handle) unsigned char storage[sizeof(file_handle) + MAX_HANDLE_SZ] = {};
    auto* handle = reinterpret_cast<file_handle*>(storage);
    handle->handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    if (::name_to_handle_at(AT_FDCWD, path.c_str(), handle, &mount_id, 0) != 0)
        throw system_error("cannot read the id of the cgroup " + path);
    if (handle->handle_bytes != sizeof(std::uint64_t))
        throw KernelError("unexpected file handle size for the cgroup " + path);
    std::uint64_t id = 0;
    std::memcpy(&id, handle->f_handle, sizeof id);
    return id;
}

namespace {

// Opens the live cgroup with this id. Returns the fd, or -1 with errno (ESTALE: it is gone).
int open_cgroup_by_id(std::uint64_t id) {
    const std::string mount = cgroup2_mount();
    if (mount.empty()) {
        errno = ENOENT;
        return -1;
    }
    int mount_fd = ::open(mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (mount_fd < 0) return -1;
    alignas(file_handle) unsigned char storage[sizeof(file_handle) + sizeof id] = {};
    auto* handle = reinterpret_cast<file_handle*>(storage);
    handle->handle_bytes = sizeof id;
    handle->handle_type = 0xfe;  // FILEID_KERNFS
    std::memcpy(handle->f_handle, &id, sizeof id);
    int fd = ::open_by_handle_at(mount_fd, handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int error = errno;
    ::close(mount_fd);
    errno = error;
    return fd;
}

}  // namespace

bool cgroup_gone(std::uint64_t id) {
    int fd = open_cgroup_by_id(id);
    if (fd >= 0) {
        ::close(fd);
        return false;
    }
    return errno == ESTALE;
}

std::optional<std::string> cgroup_path(std::uint64_t id) {
    int fd = open_cgroup_by_id(id);
    if (fd < 0) return std::nullopt;
    char target[4096];
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    ::close(fd);
    if (n <= 0) return std::nullopt;
    target[n] = '\0';
    return std::string(target);  // the path in this mount namespace, e.g. /sys/fs/cgroup/unified/bindguard/run-42
}

namespace {

const char* prefix_of(CgroupKind kind) { return kind == CgroupKind::run ? "run" : "relay"; }

}  // namespace

std::string make_cgroup(const std::string& parent, CgroupKind kind) {
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST)
        throw system_error("cannot make the cgroup " + parent);
    const std::string base = parent + "/" + prefix_of(kind) + "-" + std::to_string(::getpid());
    for (int attempt = 0; attempt < 100; ++attempt) {
        std::string path = attempt == 0 ? base : base + "-" + std::to_string(attempt);
        if (::mkdir(path.c_str(), 0755) == 0) return path;
        if (errno != EEXIST) throw system_error("cannot make the cgroup " + path);
    }
    throw KernelError("cannot make a cgroup named " + base + "-N: all taken");
}

std::optional<CgroupName> parse_cgroup_name(const std::string& name) {
    for (CgroupKind kind : {CgroupKind::run, CgroupKind::relay}) {
        const std::string prefix = std::string(prefix_of(kind)) + "-";
        if (!name.starts_with(prefix)) continue;
        // PID, then for run "-N" when the first name was taken.
        const std::string rest = name.substr(prefix.size());
        std::size_t digits = 0;
        while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
        if (digits == 0 || digits > 9 || rest[0] == '0') return std::nullopt;
        const std::string tail = rest.substr(digits);
        const bool counted = tail.size() > 1 && tail[0] == '-' &&
                             tail.find_first_not_of("0123456789", 1) == std::string::npos;
        if (!tail.empty() && !(kind == CgroupKind::run && counted)) return std::nullopt;
        return CgroupName{kind, std::stoi(rest.substr(0, digits))};
    }
    return std::nullopt;
}

void join_cgroup(const std::string& path) {
    const std::string procs = path + "/cgroup.procs";
    int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) throw system_error("cannot open " + procs);
    const std::string pid = std::to_string(::getpid());
    ssize_t n = ::write(fd, pid.data(), pid.size());
    int error = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(pid.size())) throw system_error("cannot move this process into " + path, error);
}

bool cgroup_populated(const std::string& path) {
    std::ifstream in(path + "/cgroup.events");
    std::string key, value;
    while (in >> key >> value)
        if (key == "populated") return value != "0";
    return false;
}

namespace {

// The paths of the cgroups directly below path (none when it cannot be read).
std::vector<std::string> child_cgroups(const std::string& path) {
    std::vector<std::string> children;
    if (DIR* dir = ::opendir(path.c_str())) {
        while (dirent* entry = ::readdir(dir))
            if (entry->d_type == DT_DIR && std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0)
                children.push_back(path + "/" + entry->d_name);
        ::closedir(dir);
    }
    return children;
}

}  // namespace

bool remove_cgroup(const std::string& path) {
    for (const std::string& child : child_cgroups(path)) remove_cgroup(child);
    return ::rmdir(path.c_str()) == 0 || errno == ENOENT;
}

std::vector<int> cgroup_pids(const std::string& path) {
    std::vector<int> pids;
    std::ifstream in(path + "/cgroup.procs");
    int pid = 0;
    while (in >> pid) pids.push_back(pid);
    return pids;
}

std::vector<int> cgroup_tree_pids(const std::string& path) {
    std::vector<int> pids = cgroup_pids(path);
    for (const std::string& child : child_cgroups(path))
        for (int pid : cgroup_tree_pids(child)) pids.push_back(pid);
    return pids;
}

std::vector<int> other_processes(const std::string& path) {
    std::vector<int> pids = cgroup_tree_pids(path);
    std::erase(pids, static_cast<int>(::getpid()));
    return pids;
}

std::vector<std::string> subtree_cgroups(const std::string& subtree) {
    std::vector<std::string> paths;
    if (subtree.empty()) return paths;
    for (const std::string& path : child_cgroups(subtree)) {
        const std::optional<CgroupName> name = parse_cgroup_name(path.substr(path.rfind('/') + 1));
        if (!(name && name->kind == CgroupKind::relay)) paths.push_back(path);
    }
    return paths;
}

int sweep(const Programs& programs, const std::string& subtree) {
    int deleted = 0;
    for (std::uint64_t id : programs.policy_cgroups()) {
        if (!cgroup_gone(id)) continue;
        programs.remove_policy(id);
        ++deleted;
    }
    if (subtree.empty()) return deleted;
    DIR* dir = ::opendir(subtree.c_str());
    if (dir == nullptr) return deleted;
    std::vector<std::string> stale;
    while (dirent* entry = ::readdir(dir)) {
        // run-PID[-N], made by the `bindguard run` whose pid is PID; relay-PID, the cgroup of
        // the log relay PID of a `bindguard kernel attach`.
        const std::optional<CgroupName> name = entry->d_type == DT_DIR ? parse_cgroup_name(entry->d_name) : std::nullopt;
        if (!name) continue;
        const int pid = name->pid;
        if (::kill(pid, 0) == 0 || errno == EPERM) continue;  // still there (or a reused pid)
        std::string path = subtree + "/" + entry->d_name;
        // A reaper still relaying (a slow log sink) removes its cgroup itself when done.
        if (!cgroup_populated(path) && !reaper_holds(path)) stale.push_back(path);
    }
    ::closedir(dir);
    for (const std::string& path : stale) {
        std::uint64_t id = 0;
        try {
            id = cgroup_id(path);
        } catch (const KernelError&) {
        }
        if (remove_cgroup(path) && id != 0) programs.remove_policy(id);
    }
    return deleted;
}

}  // namespace bindguard::kernel
