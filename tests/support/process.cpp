#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace bgtest {
namespace {

// The current environment with the changes of `changes` applied ("K=V" sets, "-K" removes).
std::vector<std::string> environment_with(const std::vector<std::string>& changes) {
    std::map<std::string, std::string> vars;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string entry = *e;
        auto eq = entry.find('=');
        if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    for (const auto& change : changes) {
        if (!change.empty() && change[0] == '-') {
            vars.erase(change.substr(1));
            continue;
        }
        auto eq = change.find('=');
        if (eq == std::string::npos) throw std::invalid_argument("env entry without '=': " + change);
        vars[change.substr(0, eq)] = change.substr(eq + 1);
    }
    std::vector<std::string> result;
    for (const auto& [k, v] : vars) result.push_back(k + "=" + v);
    return result;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Forks and execs argv with env; stdout/stderr go to the given fds. Returns the pid.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int out_fd, int err_fd) {
    if (argv.empty()) throw std::invalid_argument("empty argv");
    auto env_strings = environment_with(env);
    auto argv_strings = argv;
    auto c_env = c_strings(env_strings);
    auto c_argv = c_strings(argv_strings);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execvpe(c_argv[0], c_argv.data(), c_env.data());
        dprintf(2, "exec %s: %s\n", c_argv[0], std::strerror(errno));
        _exit(127);
    }
    return pid;
}

int decode_status(int wstatus) {
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return -1;
}

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : fallback;
}

}  // namespace

Result run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
           std::chrono::milliseconds timeout) {
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = spawn(argv, env, out_pipe[1], err_pipe[1]);
    close(out_pipe[1]);
    close(err_pipe[1]);

    Result result;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool killed = false;
    int open_fds = 2;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 && !killed) {
            kill(pid, SIGKILL);
            killed = true;
        }
        int n = poll(fds, 2, killed ? 1000 : static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 && killed) break;  // a grandchild may hold the pipes open
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            char buf[4096];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                sinks[i]->append(buf, static_cast<std::size_t>(got));
            } else {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    int wstatus = 0;
    while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
    result.status = decode_status(wstatus);
    return result;
}

Result sh(const std::string& script, const std::vector<std::string>& env, std::chrono::milliseconds timeout) {
    return run({"/bin/sh", "-c", script}, env, timeout);
}

Process Process::start(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
    Process p;
    std::string dir = temp_dir();
    p.out_path_ = dir + "/stdout";
    p.err_path_ = dir + "/stderr";
    int out_fd = open(p.out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err_fd = open(p.err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out_fd < 0 || err_fd < 0) throw std::runtime_error("cannot create output files in " + dir);
    p.pid_ = spawn(argv, env, out_fd, err_fd);
    close(out_fd);
    close(err_fd);
    return p;
}

Process::Process(Process&& other) noexcept
    : pid_(other.pid_), status_(other.status_), out_path_(std::move(other.out_path_)),
      err_path_(std::move(other.err_path_)) {
    other.pid_ = -1;
}

Process::~Process() {
    if (pid_ > 0 && running()) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
}

bool Process::running() {
    if (pid_ <= 0 || status_ != -1) return false;
    int wstatus = 0;
    pid_t r = waitpid(pid_, &wstatus, WNOHANG);
    if (r == pid_) {
        status_ = decode_status(wstatus);
        return false;
    }
    return r == 0;
}

std::string Process::err_so_far() const { return read_file(err_path_); }
std::string Process::out_so_far() const { return read_file(out_path_); }

Result Process::stop(int sig, std::chrono::milliseconds timeout) {
    if (running()) {
        kill(pid_, sig);
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (running() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(20ms);
        if (running()) {
            kill(pid_, SIGKILL);
            int wstatus = 0;
            waitpid(pid_, &wstatus, 0);
            status_ = decode_status(wstatus);
        }
    }
    return Result{status_, read_file(out_path_), read_file(err_path_)};
}

std::string shim_path() { return env_or("BINDGUARD_TEST_SHIM", BINDGUARD_TEST_SHIM); }
std::string cli_path() { return env_or("BINDGUARD_TEST_CLI", BINDGUARD_TEST_CLI); }
std::string helper_path() { return env_or("BINDGUARD_TEST_HELPER", BINDGUARD_TEST_HELPER); }
std::string source_dir() { return BINDGUARD_SOURCE_DIR; }

bool sanitized_build() {
#ifdef BINDGUARD_TEST_ASAN_RUNTIME
    return true;
#else
    return false;
#endif
}

std::string preload_value() {
#ifdef BINDGUARD_TEST_ASAN_RUNTIME
    return std::string(BINDGUARD_TEST_ASAN_RUNTIME) + ":" + shim_path();
#elif defined(BINDGUARD_TEST_TSAN_RUNTIME)
    return std::string(BINDGUARD_TEST_TSAN_RUNTIME) + ":" + shim_path();
#else
    return shim_path();
#endif
}

std::vector<std::string> shim_env() {
    std::vector<std::string> env{"LD_PRELOAD=" + preload_value()};
    if (sanitized_build()) {
        // Hosts such as python and node are not instrumented: their own leaks are not ours,
        // and the sanitizer runtime is preloaded rather than linked first.
        env.push_back("ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0");
    }
    return env;
}

namespace {

// "0100007F:0BB8" (tcp/udp) or the 32-hex-digit form (tcp6/udp6) -> "127.0.0.1:3000" / "[::1]:3000".
bool decode_proc_address(const std::string& field, std::string& text, std::uint16_t& port) {
    auto colon = field.find(':');
    if (colon == std::string::npos) return false;
    std::string hex = field.substr(0, colon);
    port = static_cast<std::uint16_t>(std::stoul(field.substr(colon + 1), nullptr, 16));
    char buf[INET6_ADDRSTRLEN];
    if (hex.size() == 8) {
        std::uint32_t word = static_cast<std::uint32_t>(std::stoul(hex, nullptr, 16));
        in_addr a;
        std::memcpy(&a, &word, 4);  // the kernel prints the address as a host-order word
        inet_ntop(AF_INET, &a, buf, sizeof buf);
        text = std::string(buf) + ":" + std::to_string(port);
        return true;
    }
    if (hex.size() == 32) {
        in6_addr a;
        for (int i = 0; i < 4; ++i) {
            std::uint32_t word = static_cast<std::uint32_t>(std::stoul(hex.substr(i * 8, 8), nullptr, 16));
            std::memcpy(reinterpret_cast<unsigned char*>(&a) + i * 4, &word, 4);
        }
        inet_ntop(AF_INET6, &a, buf, sizeof buf);
        text = "[" + std::string(buf) + "]:" + std::to_string(port);
        return true;
    }
    return false;
}

void read_proc_net(const char* file, const char* proto, bool tcp, std::vector<Socket>& out) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
        fields >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
        Socket s;
        s.proto = proto;
        if (!decode_proc_address(local, s.local, s.port)) continue;
        s.inode = std::stoull(inode);
        s.listening = tcp ? state == "0A" : true;
        if (tcp && !s.listening) continue;
        out.push_back(std::move(s));
    }
}

}  // namespace

std::vector<Socket> sockets() {
    std::vector<Socket> out;
    read_proc_net("/proc/net/tcp", "tcp", true, out);
    read_proc_net("/proc/net/tcp6", "tcp", true, out);
    read_proc_net("/proc/net/udp", "udp", false, out);
    read_proc_net("/proc/net/udp6", "udp", false, out);
    return out;
}

std::optional<Socket> wait_for_listener(std::uint16_t port, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        for (auto& s : sockets())
            if (s.proto == "tcp" && s.listening && s.port == port) return s;
        std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
}

std::optional<std::string> http_get(const std::string& ip, std::uint16_t port, const std::string& path) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
    if (family == AF_INET) {
        auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (inet_pton(AF_INET, ip.c_str(), &sin->sin_addr) != 1) return std::nullopt;
        len = sizeof *sin;
    } else {
        auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, ip.c_str(), &sin6->sin6_addr) != 1) return std::nullopt;
        len = sizeof *sin6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return std::nullopt;
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        close(fd);
        return std::nullopt;
    }
    std::string host = family == AF_INET6 ? "[" + ip + "]" : ip;
    std::string request = "GET " + path + " HTTP/1.0\r\nHost: " + host + ":" + std::to_string(port) +
                          "\r\nConnection: close\r\n\r\n";
    if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
        close(fd);
        return std::nullopt;
    }
    std::string response;
    char buf[4096];
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<std::size_t>(got));
    close(fd);
    if (response.empty()) return std::nullopt;
    return response;
}

std::uint16_t free_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    // Not through the shim: the test process itself is never preloaded.
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
        close(fd);
        throw std::runtime_error("free_port: cannot bind 127.0.0.1:0");
    }
    close(fd);
    return ntohs(sin.sin_port);
}

namespace {

int remove_entry(const char* path, const struct stat*, int type, struct FTW*) {
    if (type == FTW_DP) rmdir(path);
    else unlink(path);
    return 0;  // go on: remove what can be removed
}

// True when something is mounted at path or below it in this mount namespace (a bind
// mount a failed test left behind: its contents are not the test's to remove).
bool has_mounts_inside(const std::string& path) {
    std::ifstream mountinfo("/proc/self/mountinfo");
    std::string line;
    while (std::getline(mountinfo, line)) {
        std::istringstream fields(line);
        std::string id, parent, device, root, mount_point;
        fields >> id >> parent >> device >> root >> mount_point;
        if (mount_point == path || mount_point.rfind(path + "/", 0) == 0) return true;
    }
    return false;
}

// The directories temp_dir() made, removed when the test program that made them ends
// (passed or failed), except one with a mount inside; nftw() never follows a symlink.
class TempDirs {
public:
    void add(std::string path) {
        std::lock_guard<std::mutex> lock(mutex_);
        paths_.push_back(std::move(path));
    }
    ~TempDirs() {
        if (getpid() != owner_) return;  // a forked child's exit() leaves its parent's
        for (const std::string& path : paths_) {
            if (has_mounts_inside(path)) {
                std::fprintf(stderr, "bgtest: %s is left: something is mounted inside it\n", path.c_str());
                continue;
            }
            nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        }
    }

private:
    const pid_t owner_ = getpid();
    std::mutex mutex_;
    std::vector<std::string> paths_;
};

TempDirs& temp_dirs() {
    static TempDirs dirs;
    return dirs;
}

}  // namespace

std::string temp_dir() {
    char tmpl[] = "/tmp/bindguard-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    temp_dirs().add(tmpl);
    return tmpl;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + path);
    out << text;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace bgtest
