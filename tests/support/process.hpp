// Test support: run real programs, read real socket state, make real requests.
// Used by the integration tests under tests/; nothing here is mocked.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bgtest {

using namespace std::chrono_literals;

// What a finished program did. status is its exit code, or 128 + signal.
struct Result {
    int status = -1;
    std::string out;
    std::string err;
};

// Runs argv (argv[0] looked up on PATH) with the current environment changed by env:
// "K=V" sets K, "-K" removes it. Kills it with SIGKILL after timeout (status 128+9).
Result run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
           std::chrono::milliseconds timeout = 30s);

// Runs a shell script with sh -c.
Result sh(const std::string& script, const std::vector<std::string>& env = {},
          std::chrono::milliseconds timeout = 30s);

// A program running in the background, its output collected into temporary files.
// The destructor kills it (SIGKILL) if it is still running.
class Process {
public:
    static Process start(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
    Process(Process&&) noexcept;
    Process& operator=(Process&&) = delete;
    Process(const Process&) = delete;
    ~Process();

    pid_t pid() const { return pid_; }
    bool running();
    // What it has written to stderr so far.
    std::string err_so_far() const;
    std::string out_so_far() const;
    // Sends sig (unless it already exited), waits up to timeout, then SIGKILL; returns what it did.
    Result stop(int sig = 15, std::chrono::milliseconds timeout = 10s);

private:
    Process() = default;
    pid_t pid_ = -1;
    int status_ = -1;
    std::string out_path_, err_path_;
};

// Paths of the built artifacts and of the source tree.
std::string shim_path();
std::string cli_path();
std::string helper_path();
std::string source_dir();

// The LD_PRELOAD value that loads the shim in this build: in a sanitizer build,
// libasan comes first so that uninstrumented hosts (python, node) can load it.
std::string preload_value();
// {"LD_PRELOAD=...", and the sanitizer options foreign hosts need in a sanitizer build}.
std::vector<std::string> shim_env();
// True in the asan preset.
bool sanitized_build();

// A socket of this network namespace, from /proc/net/{tcp,tcp6,udp,udp6}.
struct Socket {
    std::string proto;  // "tcp" or "udp" ("tcp6"/"udp6" files report the same names)
    std::string local;  // "127.0.0.1:3000", "[::1]:3000", "[::ffff:127.0.0.1]:3000"
    std::uint16_t port = 0;
    std::uint64_t inode = 0;
    bool listening = false;  // TCP LISTEN; for UDP: bound (always true)
};
std::vector<Socket> sockets();

// Waits until a TCP socket listens on port (any address); nullopt on timeout.
std::optional<Socket> wait_for_listener(std::uint16_t port, std::chrono::milliseconds timeout = 20s);

// A plain HTTP/1.0 GET; returns the whole response (status line, headers, body), or nullopt
// when the connection fails.
std::optional<std::string> http_get(const std::string& ip, std::uint16_t port, const std::string& path = "/");

// A TCP port that is free on 127.0.0.1 right now.
std::uint16_t free_port();

// A fresh temporary directory under /tmp, removed with its contents when the test program
// ends (unless something is mounted inside it).
std::string temp_dir();
// Writes text to path (created or truncated).
void write_file(const std::string& path, const std::string& text);
std::string read_file(const std::string& path);

}  // namespace bgtest
