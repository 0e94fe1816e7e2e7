// protect_docker() and unprotect_docker(): see protect_docker.hpp.
#include "protect_docker.hpp"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "status.hpp"
#include "policy_source.hpp"
#include "program_paths.hpp"
#include "protect_dropin.hpp"
#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

constexpr const char* kMarker = "# Written by `bindguard protect docker`";
constexpr const char* kSocketUnit = "bindguard-docker-authz.socket";
constexpr const char* kServiceUnit = "bindguard-docker-authz.service";
constexpr const char* kPluginSocket = "/run/docker/plugins/bindguard.sock";
constexpr const char* kPluginName = "bindguard";

std::string units_dir(const std::string& root) { return root + "/etc/systemd/system"; }
std::string dropin_path(const std::string& root) { return units_dir(root) + "/docker.service.d/bindguard.conf"; }
std::string daemon_json_path(const std::string& root) { return root + "/etc/docker/daemon.json"; }

// Writes text to path through a temporary file and rename (mode 0644). Stops with 1.
void write_file(const char* command, const std::string& path, const std::string& text) {
    std::error_code error;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
    if (error) fail(command, "cannot create " + std::filesystem::path(path).parent_path().string() + ": " + error.message(), kExitFailure);
    std::string temporary = path + ".bindguard-new";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << text;
        if (!out.flush()) fail(command, "cannot write " + temporary + ": " + std::strerror(errno), kExitFailure);
    }
    ::chmod(temporary.c_str(), 0644);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        int saved = errno;
        ::unlink(temporary.c_str());
        fail(command, "cannot write " + path + ": " + std::strerror(saved), kExitFailure);
    }
}

// The text of path, or nullopt when there is no such file. Stops with 1 when it cannot be read.
std::optional<std::string> read_text(const char* command, const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno == ENOENT) return std::nullopt;
        fail(command, "cannot read " + path + ": " + std::strerror(errno), kExitFailure);
    }
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// daemon.json as an ordered JSON object ({} when absent). Stops with 1 when it is not an object.
nlohmann::ordered_json read_daemon_json(const char* command, const std::string& path, bool& existed) {
    std::optional<std::string> text = read_text(command, path);
    existed = text.has_value();
    if (!text) return nlohmann::ordered_json::object();
    nlohmann::ordered_json json = nlohmann::ordered_json::parse(*text, nullptr, false);
    if (json.is_discarded() || !json.is_object())
        fail(command, path + " is not a JSON object (dockerd would not start with it either); fix it first", kExitFailure);
    return json;
}

std::string header(const std::string& what) {
    return std::string(kMarker) + " (bindguard " + BINDGUARD_VERSION + ").\n# " + what +
           "\n# Remove with `bindguard unprotect docker`.\n";
}

std::string socket_text() {
    return header("Docker's authorization plugin `bindguard`: dockerd finds it by this socket.") +
           "[Unit]\nDescription=bindguard: Docker's authorization plugin (socket)\nBefore=docker.service\n\n"
           "[Socket]\nListenStream=" + std::string(kPluginSocket) + "\nSocketMode=0660\nDirectoryMode=0755\n\n"
           "[Install]\nWantedBy=sockets.target\n";
}

std::string service_text(const std::string& policy) {
    std::string exec = "ExecStart=" + exec_quoted(own_path()) + " docker authz";
    if (!policy.empty()) exec += " --policy " + exec_quoted(policy);
    return header("Docker's authorization plugin `bindguard`: refuses a container that would publish publicly.") +
           "[Unit]\nDescription=bindguard: Docker's authorization plugin (bindguard docker authz)\n"
           "Requires=" + std::string(kSocketUnit) + "\nAfter=" + kSocketUnit + "\nBefore=docker.service\n\n"
           "[Service]\n" + exec + "\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n";
}

constexpr const char* kCreatedNote = "# bindguard protect docker created ";

std::string dropin_text(const std::string& created_daemon_json) {
    return header("dockerd refuses to start without its authorization plugin, and refuses every request while\n"
                  "# the plugin does not answer (fails closed): it needs the plugin's socket first.") +
           (created_daemon_json.empty() ? "" : kCreatedNote + created_daemon_json + " (unprotect removes it when empty)\n") +
           "[Unit]\nRequires=" + std::string(kSocketUnit) + "\nAfter=" + kSocketUnit + "\n";
}

// True when docker.service's ExecStart= already names authorization plugins as flags (which
// dockerd refuses together with the daemon.json key).
bool exec_start_names_plugins(const std::string& root) {
    for (const std::string& dir : {root + "/etc/systemd/system", root + "/lib/systemd/system", root + "/usr/lib/systemd/system"}) {
        std::optional<std::string> text = read_text("protect", dir + "/docker.service");
        if (text) return text->find("--authorization-plugin") != std::string::npos;
    }
    return false;
}

}  // namespace

int protect_docker(const DockerProtectOptions& options) {
    try {
        std::string policy = options.policy;
        if (!policy.empty()) {
            policy = absolute(policy);
            LoadResult loaded = load_policy_file(policy);
            print_diagnostics(loaded.diagnostics, std::cerr);
            if (!loaded.ok())
                fail("protect", "the policy " + policy + " is invalid; fix it and check it with `bindguard check " + policy + "`",
                     kExitUsage);
        }
        if (exec_start_names_plugins(options.root))
            fail("protect", "docker.service already passes --authorization-plugin to dockerd; add bindguard there "
                            "(--authorization-plugin=bindguard) instead, or remove it so that daemon.json can name both",
                 kExitFailure);
        bool existed = false;
        const std::string daemon_json = daemon_json_path(options.root);
        nlohmann::ordered_json config = read_daemon_json("protect", daemon_json, existed);
        nlohmann::ordered_json& plugins = config["authorization-plugins"];
        if (plugins.is_null()) plugins = nlohmann::ordered_json::array();
        if (!plugins.is_array()) fail("protect", daemon_json + ": \"authorization-plugins\" is not a list", kExitFailure);
        bool listed = false;
        for (const auto& plugin : plugins) listed = listed || plugin == kPluginName;
        if (!listed) plugins.push_back(kPluginName);
        const std::string config_text = config.dump(2) + "\n";
        if (options.dry_run) {
            std::cout << "# " << units_dir(options.root) << "/" << kSocketUnit << "\n" << socket_text() << "\n# "
                      << units_dir(options.root) << "/" << kServiceUnit << "\n" << service_text(policy) << "\n# "
                      << dropin_path(options.root) << "\n" << dropin_text(existed ? "" : daemon_json) << "\n# " << daemon_json << "\n" << config_text;
            return kExitOk;
        }
        write_file("protect", units_dir(options.root) + "/" + kSocketUnit, socket_text());
        write_file("protect", units_dir(options.root) + "/" + kServiceUnit, service_text(policy));
        // A drop-in written before says whether daemon.json was there before it.
        std::optional<std::string> earlier = read_text("protect", dropin_path(options.root));
        std::string created = !existed ? daemon_json : "";
        if (earlier && earlier->find(kCreatedNote + daemon_json + " ") != std::string::npos) created = daemon_json;
        write_file("protect", dropin_path(options.root), dropin_text(created));
        write_file("protect", daemon_json, config_text);
        std::cout << "bindguard protect: Docker publishes with its own packet rules, where neither the library nor the "
                     "kernel twin reaches: set up Docker's authorization plugin instead (`bindguard docker authz`), "
                     "which refuses a container that would publish on a public address.\n"
                  << "bindguard protect: wrote " << units_dir(options.root) << "/" << kSocketUnit << ", " << kServiceUnit
                  << ", " << dropin_path(options.root) << "; " << (listed ? "kept" : "added") << " \"bindguard\" in \"authorization-plugins\" of "
                  << daemon_json << (existed ? " (its other keys kept)" : " (new)") << "\n"
                  << "Next: systemctl daemon-reload && systemctl enable --now " << kSocketUnit
                  << " && systemctl restart docker.service (dockerd reads its plugins only when it starts)\n"
                  << "Then check it with: bindguard audit\n";
        return kExitOk;
    } catch (const Stop& stop) {
        return stop.status;
    }
}

int unprotect_docker(const std::string& root) {
    try {
        bool removed = false;
        const std::string daemon_json = daemon_json_path(root);
        std::optional<std::string> dropin = read_text("unprotect", dropin_path(root));
        const bool created = dropin && dropin->starts_with(kMarker) &&
                             dropin->find(kCreatedNote + daemon_json + " ") != std::string::npos;
        for (const std::string& path : {units_dir(root) + "/" + kSocketUnit, units_dir(root) + "/" + kServiceUnit, dropin_path(root)}) {
            std::optional<std::string> text = read_text("unprotect", path);
            if (!text) continue;
            if (!text->starts_with(kMarker)) {
                std::cerr << "bindguard unprotect: " << path << " was not written by `bindguard protect docker`; leaving it alone\n";
                continue;
            }
            if (::unlink(path.c_str()) != 0) fail("unprotect", "cannot remove " + path + ": " + std::strerror(errno), kExitFailure);
            std::cout << "bindguard unprotect: removed " << path << '\n';
            removed = true;
        }
        ::rmdir((units_dir(root) + "/docker.service.d").c_str());  // only when empty
        bool existed = false;
        nlohmann::ordered_json config = read_daemon_json("unprotect", daemon_json, existed);
        if (existed && config.contains("authorization-plugins") && config["authorization-plugins"].is_array()) {
            nlohmann::ordered_json kept = nlohmann::ordered_json::array();
            for (const auto& plugin : config["authorization-plugins"])
                if (plugin != kPluginName) kept.push_back(plugin);
            if (kept.size() != config["authorization-plugins"].size()) {
                if (kept.empty()) config.erase("authorization-plugins");
                else config["authorization-plugins"] = kept;
                if (created && config.empty()) {
                    if (::unlink(daemon_json.c_str()) != 0)
                        fail("unprotect", "cannot remove " + daemon_json + ": " + std::strerror(errno), kExitFailure);
                    std::cout << "bindguard unprotect: removed " << daemon_json << " (protect docker had created it)\n";
                } else {
                    write_file("unprotect", daemon_json, config.dump(2) + "\n");
                    std::cout << "bindguard unprotect: removed \"bindguard\" from \"authorization-plugins\" of " << daemon_json << '\n';
                }
                removed = true;
            }
        }
        if (!removed) fail("unprotect", "Docker is not protected: nothing of `bindguard protect docker` is there", kExitFailure);
        std::cout << "Next: systemctl daemon-reload && systemctl restart docker.service && systemctl disable --now "
                  << kSocketUnit << " " << kServiceUnit << '\n';
        return kExitOk;
    } catch (const Stop& stop) {
        return stop.status;
    }
}

}  // namespace bindguard::cli
