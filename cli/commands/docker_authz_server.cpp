// `bindguard docker authz [--policy FILE] [--socket PATH]`: Docker's authorization plugin.
// Serves the plugin protocol (JSON over HTTP, libmicrohttpd) on a unix socket it creates
// itself (or the one systemd passes, LISTEN_FDS=1), where dockerd finds it by name:
// /run/docker/plugins/bindguard.sock is the plugin `bindguard` of
// `dockerd --authorization-plugin=bindguard`. Each request is decided by
// docker::decide_request(); each decision is logged with call=docker.
#include <fcntl.h>
#include <signal.h>
#include <syslog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "bindguard/log_line.hpp"
#include "commands.hpp"
#include "docker_authz_decision.hpp"
#include "policy_source.hpp"

namespace bindguard::cli {
namespace {

constexpr const char* kDefaultSocket = "/run/docker/plugins/bindguard.sock";
constexpr const char* kContentType = "application/vnd.docker.plugins.v1.2+json";
constexpr std::size_t kMaxRequest = 4 * 1024 * 1024;  // dockerd sends bodies < 1 MiB, base64 in JSON

struct AuthzOptions {
    std::string policy;
    std::string socket = kDefaultSocket;
};

// What the server shares with its connection threads.
struct Server {
    Policy policy;         // as loaded at start: its [log] sink is opened once
    std::string path;      // the policy's file ("" for the built-in one)
    std::mutex log_lock;   // one line at a time
    int log_fd = -1;       // log.to = "file" or "syslog": the file or socket, opened once

    std::mutex policy_lock;                // guards the three below
    std::shared_ptr<const Policy> current;  // the policy requests are decided with
    struct stat loaded{};                  // of path when current was read
    std::string broken;                    // set while path cannot be read or is invalid: every request is refused

    // The policy to decide a request with, read again first when its file changed since
    // (device, inode, size or modification time): a valid new one replaces it (said on
    // stderr); while the file is unreadable or invalid, broken says why, and every request is
    // refused (a bad policy fails closed). Returns {policy, broken}.
    std::pair<std::shared_ptr<const Policy>, std::string> policy_now() {
        std::lock_guard<std::mutex> hold(policy_lock);
        if (path.empty()) return {current, ""};
        struct stat now{};
        if (::stat(path.c_str(), &now) != 0) {
            broken = "the policy " + path + " can no longer be read (" + std::strerror(errno) + ")";
            return {current, broken};
        }
        if (now.st_dev == loaded.st_dev && now.st_ino == loaded.st_ino && now.st_size == loaded.st_size &&
            now.st_mtim.tv_sec == loaded.st_mtim.tv_sec && now.st_mtim.tv_nsec == loaded.st_mtim.tv_nsec && broken.empty())
            return {current, ""};
        loaded = now;
        LoadResult reloaded = load_policy_file(path, Warnings::skip);
        if (!reloaded.ok()) {
            std::string first = reloaded.diagnostics.empty() ? "" : ": " + reloaded.diagnostics.front().to_string();
            broken = "the policy " + path + " changed and is invalid" + first + "; every request is refused until it is fixed";
            return {current, broken};
        }
        current = std::make_shared<const Policy>(std::move(*reloaded.policy));
        broken.clear();
        std::cerr << "bindguard docker authz: the policy " << path << " changed: read it again" << std::endl;
        return {current, ""};
    }

    // Opens the policy's log sink with the library's rules for it (a file: appended, created
    // 0640, a regular file only; syslog: /dev/log, facility daemon). One that cannot be opened:
    // stderr, with a note. Returns nothing.
    void open_log() {
        if (policy.log.to == LogSink::file) {
            const char* refusal = nullptr;
            log_fd = open_log_file(policy.log.path.c_str(), refusal);
            if (log_fd < 0)
                std::cerr << "bindguard docker authz: cannot open the log file " << policy.log.path << ": "
                          << (refusal ? refusal : std::strerror(errno)) << "; logging to stderr instead\n";
        } else if (policy.log.to == LogSink::syslog) {
            log_fd = connect_syslog();
            if (log_fd < 0)
                std::cerr << "bindguard docker authz: cannot reach syslog at " << kSyslogPath << ": " << std::strerror(errno)
                          << "; logging to stderr instead\n";
        }
    }

    // Logs one decision as the library logs a bind (text or JSON of the policy's [log], to its
    // sink: stderr - the plugin's journal under systemd -, a file or syslog), with call=docker
    // and program=dockerd: a denial at level info, a pass at debug. Returns nothing.
    void log(const docker::AuthzDecision& decision, const Policy& now) {
        const bool audit = now.mode == Mode::audit;
        const LogLevel level = decision.allow ? LogLevel::debug : LogLevel::info;
        if (policy.log.to == LogSink::none || level > now.log.level) return;
        const char* action = decision.allow ? "allow" : audit ? "would-deny" : "deny";
        // Built with the library's line writer (bindguard/log_line.hpp): its escaping of field
        // values and JSON strings, so that a container name or label from the request can
        // plant neither a field nor a line.
        char buffer[kLogLineCapacity];
        LineBuffer line(buffer, sizeof buffer);
        std::size_t body = 0;
        if (now.log.format == LogFormat::json) {
            line.add("{\"ts\":\"");
            line.add_timestamp();
            line.add("\",\"pid\":");
            line.add_unsigned(static_cast<std::uint64_t>(::getpid()));
            line.add(",\"program\":\"dockerd\",\"service\":");
            line.add_json_string(decision.service, kLogNameBudget);
            line.add(",\"call\":\"docker\",\"request\":");
            line.add_json_string(decision.request, kLogProgramBudget);
            line.add(",\"container\":");
            line.add_json_string(decision.container, kLogNameBudget);
            line.add(",\"action\":\"");
            line.add(action);
            line.add("\",\"rule\":");
            line.add_json_string(decision.rule, kLogNameBudget);
            line.add(",\"mode\":\"");
            line.add(to_string(now.mode));
            line.add("\",\"reason\":");
            line.add_json_string(decision.message, kLogMessageBudget);
            line.add('}');
        } else {
            // "bindguard[PID]: ACTION docker rule=R program=dockerd service=S call=docker request=... container=C [reason=...]"
            line.add_prefix();
            body = line.size();
            line.add(action);
            line.add(" docker rule=");
            line.add_field(decision.rule, kLogNameBudget);
            line.add(" program=dockerd service=");
            line.add_field(decision.service, kLogNameBudget);
            line.add(" call=docker request=");
            line.add_field(decision.request, kLogProgramBudget);
            line.add(" container=");
            line.add_field(decision.container, kLogNameBudget);
            if (!decision.message.empty()) {
                line.add(" reason=");
                line.add_field(decision.message, kLogMessageBudget);
            }
        }
        line.terminate_line();
        std::lock_guard<std::mutex> hold(log_lock);
        if (policy.log.to == LogSink::syslog && log_fd >= 0) {
            (void)send_syslog(log_fd, line.data(), line.size(), body, decision.allow ? LOG_DEBUG : LOG_INFO);
        } else if (policy.log.to == LogSink::file && log_fd >= 0) {
            (void)write_line(log_fd, line.data(), line.size());
        } else {
            (void)write_line(STDERR_FILENO, line.data(), line.size());
        }
    }
};

// The body collected for one request.
struct Upload {
    std::string body;
    bool too_large = false;
};

MHD_Result respond(MHD_Connection* connection, unsigned status, const std::string& body) {
    MHD_Response* response = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!response) return MHD_NO;
    MHD_add_response_header(response, "Content-Type", kContentType);
    MHD_Result result = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return result;
}

// The JSON answer to one finished request of the plugin protocol. Returns {status, body}.
std::pair<unsigned, std::string> answer(Server& server, const std::string& url, const Upload& upload) {
    if (url == "/Plugin.Activate") return {MHD_HTTP_OK, R"({"Implements":["authz"]})"};
    if (url == "/AuthZPlugin.AuthZRes") return {MHD_HTTP_OK, R"({"Allow":true})"};
    if (url == "/AuthZPlugin.AuthZReq") {
        auto [policy, broken] = server.policy_now();
        docker::AuthzDecision decision;
        if (!broken.empty()) {
            decision.allow = false;
            decision.message = "cannot check this request, so it is refused: " + broken;
        } else if (upload.too_large) {
            decision.allow = false;
            decision.message = "cannot check this request, so it is refused: the authorization request is larger than " +
                               std::to_string(kMaxRequest) + " bytes";
        } else {
            decision = docker::decide_request(*policy, upload.body);
        }
        server.log(decision, *policy);
        if (policy->mode == Mode::audit && broken.empty()) decision.allow = true;  // logged as would-deny
        return {MHD_HTTP_OK, docker::authz_response(decision)};
    }
    return {MHD_HTTP_NOT_FOUND, nlohmann::json{{"Err", "bindguard docker authz: no such plugin call: " + url}}.dump()};
}

// libmicrohttpd's request handler: collects the body, then answers.
MHD_Result handle(void* context, MHD_Connection* connection, const char* url, const char* method, const char*,
                  const char* data, size_t* size, void** request_context) {
    auto& server = *static_cast<Server*>(context);
    if (*request_context == nullptr) {
        *request_context = new Upload;
        return MHD_YES;
    }
    auto& upload = *static_cast<Upload*>(*request_context);
    if (*size != 0) {
        if (upload.body.size() + *size > kMaxRequest) upload.too_large = true;
        else upload.body.append(data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (std::strcmp(method, "POST") != 0)
        return respond(connection, MHD_HTTP_METHOD_NOT_ALLOWED, R"({"Err":"bindguard docker authz: only POST"})");
    auto [status, body] = answer(server, url, upload);
    return respond(connection, status, body);
}

void completed(void*, MHD_Connection*, void** request_context, MHD_RequestTerminationCode) {
    delete static_cast<Upload*>(*request_context);
    *request_context = nullptr;
}

// The listening socket systemd passed (LISTEN_FDS=1 for this process), or -1.
int socket_from_systemd() {
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    if (!pid || !fds || std::strtol(pid, nullptr, 10) != ::getpid() || std::strcmp(fds, "1") != 0) return -1;
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return 3;
}

// True when something accepts connections on the unix socket at path.
bool answering(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    bool connected = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (fd >= 0) ::close(fd);
    return connected;
}

// Creates, binds and listens on the unix socket at path (its directory made; a stale socket
// there replaced; mode 0660). Returns the descriptor; stops with 1.
int listen_at(const std::string& path) {
    if (path.size() >= sizeof(sockaddr_un::sun_path)) fail("docker authz", "--socket: the path " + path + " is too long for a unix socket", kExitUsage);
    std::error_code error;
    std::filesystem::path directory = std::filesystem::path(path).parent_path();
    if (!directory.empty()) std::filesystem::create_directories(directory, error);
    if (error) fail("docker authz", "cannot create " + directory.string() + ": " + error.message(), kExitFailure);
    struct stat status{};
    if (::lstat(path.c_str(), &status) == 0) {
        if (!S_ISSOCK(status.st_mode)) fail("docker authz", path + " exists and is not a socket; leaving it alone", kExitFailure);
        if (answering(path)) fail("docker authz", "another plugin already answers on " + path, kExitFailure);
        ::unlink(path.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("docker authz", std::string("cannot create a unix socket: ") + std::strerror(errno), kExitFailure);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::chmod(path.c_str(), 0660) != 0 ||
        ::listen(fd, 64) != 0)
        fail("docker authz", "cannot listen on " + path + ": " + std::strerror(errno), kExitFailure);
    return fd;
}

// The whole of `bindguard docker authz`: serves until SIGTERM or SIGINT. Returns the exit status.
int authz(const AuthzOptions& options) {
    try {
        auto [source, loaded] = load_and_report_policy(options.policy, std::cerr);
        if (!loaded.ok())
            fail("docker authz", "the policy " + source.path + " (from " + source.named_by + ") is invalid; fix it and check it with "
                 "`bindguard check " + source.path + "`", kExitUsage);
        auto server = std::make_unique<Server>();
        server->policy = *loaded.policy;
        server->path = source.path;
        if (!source.path.empty() && ::stat(source.path.c_str(), &server->loaded) != 0) server->loaded = {};
        server->current = std::make_shared<const Policy>(std::move(*loaded.policy));
        server->open_log();
        // Block the stop signals before the threads start, so that only sigwait() sees them.
        sigset_t stop_signals;
        sigemptyset(&stop_signals);
        sigaddset(&stop_signals, SIGTERM);
        sigaddset(&stop_signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
        int fd = socket_from_systemd();
        const bool own_socket = fd < 0;
        if (own_socket) fd = listen_at(options.socket);
        MHD_Daemon* daemon = MHD_start_daemon(
            MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG, 0, nullptr,
            nullptr, &handle, server.get(), MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, &completed, nullptr,
            MHD_OPTION_CONNECTION_TIMEOUT, 60u, MHD_OPTION_END);
        if (!daemon) {
            if (own_socket) ::unlink(options.socket.c_str());
            fail("docker authz", "cannot serve on " + (own_socket ? options.socket : std::string("the socket systemd passed")), kExitFailure);
        }
        std::cerr << "bindguard docker authz: serving Docker's authorization plugin \"bindguard\" on "
                  << (own_socket ? options.socket : std::string("the socket systemd passed")) << " with the policy "
                  << server->policy.source << (server->policy.mode == Mode::audit ? " (mode audit: nothing is refused)" : "")
                  << "; start dockerd with --authorization-plugin=bindguard" << std::endl;
        int signal = 0;
        sigwait(&stop_signals, &signal);
        MHD_stop_daemon(daemon);
        if (own_socket) ::unlink(options.socket.c_str());
        return kExitOk;
    } catch (const Stop& stop) {
        return stop.status;
    }
}

}  // namespace

void add_docker_command(CLI::App& app, CommandAction& action) {
    CLI::App* docker = app.add_subcommand("docker", "Keep Docker's published ports on loopback (Docker's authorization plugin).");
    docker->require_subcommand(1);
    auto options = std::make_shared<AuthzOptions>();
    CLI::App* sub = docker->add_subcommand(
        "authz",
        "Serve Docker's authorization plugin: refuse a container that would publish a port publicly.\n"
        "Listens on --socket (default /run/docker/plugins/bindguard.sock, where dockerd finds the plugin\n"
        "`bindguard`; or the socket systemd passes) until SIGTERM or SIGINT. dockerd asks it about each\n"
        "API request when started with --authorization-plugin=bindguard (or \"authorization-plugins\":\n"
        "[\"bindguard\"] in daemon.json; `bindguard protect docker` sets that up). Refused, with the\n"
        "container, the port and the fix in the message `docker run` and `docker compose up` print:\n"
        "a port binding on every address (-p 3100:3100), 0.0.0.0, :: or any address that is not\n"
        "loopback; -P; --network host; a swarm service's published port - unless an allow rule of the\n"
        "policy matches (service = the com.docker.compose.service label, else the container's name).\n"
        "Everything else passes. A request it cannot read is refused with the reason. Each decision is\n"
        "logged in the policy's log format, to its sink, with call=docker (passes at level debug). With\n"
        "mode = \"audit\" nothing is refused (logged as would-deny). The policy file is read again when it\n"
        "changes; while it is unreadable or invalid, every request is refused. dockerd refuses every request while\n"
        "a configured plugin does not answer: a stopped plugin fails closed.\n"
        "Exit 0 after SIGTERM/SIGINT; 1 when it cannot listen; 2 on an invalid policy or usage error.");
    sub->add_option("--policy", options->policy, "Policy whose allow rules may allow a public publish "
                                                   "(default: BINDGUARD_POLICY, else /etc/bindguard/policy.toml, else built-in)");
    sub->add_option("--socket", options->socket, "The unix socket to create (default /run/docker/plugins/bindguard.sock)");
    sub->callback([&action, options] { action = [options](const std::vector<std::string>&) { return authz(*options); }; });
}

}  // namespace bindguard::cli
