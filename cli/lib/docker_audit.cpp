// read_docker() and judge_docker(): see docker_audit.hpp.
#include "docker_audit.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "compose_judge.hpp"

namespace bindguard::cli {
namespace {

constexpr const char* kDefaultSocket = "/var/run/docker.sock";

size_t collect(char* data, size_t size, size_t count, void* body) {
    static_cast<std::string*>(body)->append(data, size * count);
    return size * count;
}

// GET path on the Engine API at socket. Returns the body; throws std::runtime_error.
std::string get(const std::string& socket, const std::string& path) {
    CURL* curl = curl_easy_init();
    if (!curl) throw std::runtime_error("cannot start libcurl");
    std::string body;
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, ("http://docker" + path).c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (code != CURLE_OK)
        throw std::runtime_error("cannot ask Docker at " + socket + ": " + (error[0] ? error : curl_easy_strerror(code)));
    if (status != 200) {
        nlohmann::json answer = nlohmann::json::parse(body, nullptr, false);
        std::string message = answer.is_object() && answer.contains("message") && answer["message"].is_string()
                                  ? answer["message"].get<std::string>() : body.substr(0, 200);
        throw std::runtime_error("Docker at " + socket + " answered GET " + path + " with HTTP " + std::to_string(status) +
                                 ": " + message);
    }
    return body;
}

std::string label(const nlohmann::json& container, const char* name) {
    auto labels = container.find("Labels");
    if (labels == container.end() || !labels->is_object()) return "";
    auto value = labels->find(name);
    return value != labels->end() && value->is_string() ? value->get<std::string>() : "";
}

// "127.0.0.1:3100:3100", "[::1]:3100:3100/udp": a loopback mapping for publish. Returns it.
std::string loopback_mapping(const DockerPublish& publish) {
    const bool v6 = publish.host_ip.find(':') != std::string::npos;
    std::string text = std::string(v6 ? "[::1]" : "127.0.0.1") + ":" + std::to_string(publish.host_port) + ":" +
                       std::to_string(publish.container_port);
    if (publish.proto != "tcp") text += "/" + publish.proto;
    return text;
}

// The network namespace of the process serving the unix socket at path (SO_PEERCRED), as
// /proc/PID/ns/net reads ("net:[INODE]"), or "" when it cannot be told.
std::string server_namespace(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return "";
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ucred peer{};
    socklen_t length = sizeof peer;
    bool known = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                 ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0 && peer.pid > 0;
    ::close(fd);
    if (!known) return "";
    char link[128];
    ssize_t n = ::readlink(("/proc/" + std::to_string(peer.pid) + "/ns/net").c_str(), link, sizeof link - 1);
    return n > 0 ? std::string(link, static_cast<std::size_t>(n)) : "";
}

std::string own_namespace() {
    char link[128];
    ssize_t n = ::readlink("/proc/self/ns/net", link, sizeof link - 1);
    return n > 0 ? std::string(link, static_cast<std::size_t>(n)) : "";
}

}  // namespace

bool is_docker_publisher(const std::string& program) {
    std::string file = program.substr(program.rfind('/') + 1);
    return file == "dockerd" || file == "docker-proxy";
}

std::optional<DockerState> read_docker() {
    std::string socket = kDefaultSocket;
    if (const char* host = std::getenv("DOCKER_HOST"); host && *host) {
        std::string value = host;
        if (!value.starts_with("unix://")) {
            std::cerr << "bindguard audit: note: DOCKER_HOST=" << value
                      << " is not a unix socket; Docker's publishes are not read (run audit on the Docker host)\n";
            return std::nullopt;
        }
        socket = value.substr(7);
    }
    struct stat status{};
    if (::stat(socket.c_str(), &status) != 0 || !S_ISSOCK(status.st_mode)) return std::nullopt;
    // A dockerd of another network namespace publishes there, not in the one audited here.
    const std::string theirs = server_namespace(socket), ours = own_namespace();
    if (!theirs.empty() && !ours.empty() && theirs != ours) {
        std::cerr << "bindguard audit: note: the Docker daemon at " << socket << " runs in another network namespace ("
                  << theirs << "); its publishes are not this namespace's and are not listed\n";
        return std::nullopt;
    }
    nlohmann::json containers = nlohmann::json::parse(get(socket, "/containers/json"), nullptr, false);
    if (!containers.is_array()) throw std::runtime_error("Docker at " + socket + " answered GET /containers/json with something that is not a list");
    DockerState state;
    state.socket = socket;
    for (const nlohmann::json& container : containers) {
        if (!container.is_object()) continue;
        DockerPublish base;
        if (auto names = container.find("Names"); names != container.end() && names->is_array() && !names->empty() &&
                                                   names->front().is_string())
            base.container = names->front().get<std::string>();
        if (base.container.starts_with("/")) base.container.erase(0, 1);
        if (auto image = container.find("Image"); image != container.end() && image->is_string()) base.image = *image;
        base.compose_project = label(container, "com.docker.compose.project");
        base.compose_service = label(container, "com.docker.compose.service");
        auto host_config = container.find("HostConfig");
        if (host_config != container.end() && host_config->is_object() && host_config->value("NetworkMode", "") == "host") {
            DockerPublish host = base;
            host.host_network = true;
            state.publishes.push_back(host);
            continue;
        }
        auto ports = container.find("Ports");
        if (ports == container.end() || !ports->is_array()) continue;
        for (const nlohmann::json& port : *ports) {
            if (!port.is_object() || !port.contains("PublicPort") || !port["PublicPort"].is_number_unsigned()) continue;
            DockerPublish publish = base;
            publish.host_ip = port.value("IP", "");
            publish.host_port = static_cast<std::uint16_t>(port["PublicPort"].get<unsigned>());
            publish.container_port = static_cast<std::uint16_t>(port.value("PrivatePort", 0u));
            publish.proto = port.value("Type", "tcp");
            state.publishes.push_back(publish);
        }
    }
    return state;
}

void judge_docker(DockerState& state, const Policy& policy) {
    for (DockerPublish& publish : state.publishes) {
        if (publish.host_network) {
            if (allowed_everything(policy, publish.service(), publish.rule)) {
                publish.verdict = "allowed";
                continue;
            }
            publish.verdict = "host-network";
            publish.reason = "shares the host's network (--network host): whatever it binds is on the host's addresses";
            publish.fix = "drop --network host and publish each port with -p 127.0.0.1:PORT:PORT (Compose: remove "
                          "network_mode: host and write \"127.0.0.1:PORT:PORT\")";
            continue;
        }
        const Protocol protocol = publish.proto == "udp" ? Protocol::udp : publish.proto == "tcp" ? Protocol::tcp : Protocol::other;
        // Docker reports "" for an address it did not name: every address.
        std::string host_ip = publish.host_ip;
        if (!host_ip.empty() && !is_host_address(host_ip)) host_ip = "";
        PublishJudgement judgement =
            judge_publish(policy, publish.service(), host_ip, {protocol}, PortRange{publish.host_port, publish.host_port});
        publish.rule = judgement.rule;
        publish.verdict = judgement.verdict == PublishJudgement::Verdict::ok        ? "ok"
                          : judgement.verdict == PublishJudgement::Verdict::allowed ? "allowed"
                                                                                    : "exposed";
        if (publish.verdict != "exposed") continue;
        publish.reason = "publishes " + publish.proto + " port " + std::to_string(publish.host_port) + " on " + judgement.where;
        publish.fix = "-p " + loopback_mapping(publish) + " (Compose: \"" + loopback_mapping(publish) + "\")";
    }
}

}  // namespace bindguard::cli
