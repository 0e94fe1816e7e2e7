// The launch records of `bindguard run` (see launch_record.hpp).
#include "launch_record.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "processes.hpp"

namespace bindguard::cli {
namespace {

// $BINDGUARD_RUNTIME_DIR when it is an absolute path, else kDefaultRuntimeDir. Returns it.
std::string runtime_dir() {
    const char* named = ::getenv("BINDGUARD_RUNTIME_DIR");
    return named != nullptr && named[0] == '/' ? named : kDefaultRuntimeDir;
}

// The directory of the launch records. Returns it.
std::string record_dir() { return runtime_dir() + "/launched"; }

// Creates record_dir() (and its parent) when missing. Returns true when it exists.
bool ensure_directory() {
    const std::string dir = record_dir();
    ::mkdir(runtime_dir().c_str(), 0755);
    if (::mkdir(dir.c_str(), 01777) == 0) ::chmod(dir.c_str(), 01777);  // umask took bits away
    struct stat status{};
    return ::stat(dir.c_str(), &status) == 0 && S_ISDIR(status.st_mode);
}

// Removes the records whose process is gone or is another process by now. Returns nothing.
void remove_stale_records() {
    const std::string records = record_dir();
    DIR* dir = ::opendir(records.c_str());
    if (dir == nullptr) return;
    while (dirent* entry = ::readdir(dir)) {
        char* end = nullptr;
        long pid = std::strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || pid <= 0) continue;
        pid_t parent = 0;
        unsigned long long start_time = 0;
        std::string path = records + "/" + entry->d_name;
        bool alive = read_process_stat(static_cast<pid_t>(pid), parent, start_time);
        if (alive) {
            // Keep it when its start time is this process's (read it back).
            int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            char buf[64] = {};
            if (fd >= 0) {
                ssize_t n = ::read(fd, buf, sizeof buf - 1);
                ::close(fd);
                if (n > 0 && std::string(buf).starts_with("start_time=" + std::to_string(start_time) + "\n")) continue;
            }
        }
        ::unlink(path.c_str());  // fails harmlessly for other users' records
    }
    ::closedir(dir);
}

// Writes all of text to fd. Returns true on success.
bool write_all(int fd, const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

void write_launch_record() {
    pid_t self = ::getpid();
    pid_t parent = 0;
    unsigned long long start_time = 0;
    if (!read_process_stat(self, parent, start_time) || !ensure_directory()) return;
    remove_stale_records();
    std::string text = "start_time=" + std::to_string(start_time) + "\n";
    for (const char* name : {"BINDGUARD_POLICY", "BINDGUARD_SERVICE"}) {
        const char* value = ::getenv(name);
        if (value == nullptr) continue;
        std::string line = value;
        if (line.find('\n') != std::string::npos) return;  // cannot be recorded faithfully: no record
        text += std::string(name == std::string("BINDGUARD_POLICY") ? "policy=" : "service=") + line + "\n";
    }
    std::string path = record_dir() + "/" + std::to_string(self);
    std::string temporary = path + ".new";
    ::unlink(temporary.c_str());
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return;
    bool written = write_all(fd, text);
    ::close(fd);
    if (!written || ::rename(temporary.c_str(), path.c_str()) != 0) ::unlink(temporary.c_str());
}

std::optional<LaunchRecord> read_launch_record(pid_t pid, unsigned long long start_time, uid_t uid) {
    std::string path = record_dir() + "/" + std::to_string(pid);
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    struct stat status{};
    std::string text;
    if (::fstat(fd, &status) == 0 && S_ISREG(status.st_mode) && (status.st_uid == 0 || status.st_uid == uid) &&
        status.st_size < 65536) {
        char buf[4096];
        for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (!text.starts_with("start_time=" + std::to_string(start_time) + "\n")) return std::nullopt;
    LaunchRecord record;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        if (line.starts_with("policy=")) record.policy = line.substr(7);
        if (line.starts_with("service=")) record.service = line.substr(8);
        start = end + 1;
    }
    return record;
}

}  // namespace bindguard::cli
