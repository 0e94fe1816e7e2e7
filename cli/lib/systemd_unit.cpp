// Reading a service unit (see systemd_unit.hpp).
#include "systemd_unit.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "command_line.hpp"

namespace bindguard::cli {
namespace {

// The directories systemd looks up a relative ExecStart= program in (systemd.service(5)).
const std::array<const char*, 6> kExecSearchPath = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                                                   "/usr/bin",        "/sbin",           "/bin"};

// The [Service] settings of a unit file. Returns them.
std::vector<UnitSetting> service_settings(const std::string& path) { return unit_settings(path, "Service"); }

// True when path is a regular file (or a symlink to one).
bool is_file(const std::string& path) {
    struct stat status{};
    return ::stat(path.c_str(), &status) == 0 && S_ISREG(status.st_mode);
}

// "a@b.service" -> "a@.service"; other names: "". Returns the template's name.
std::string template_name(const std::string& name) {
    std::size_t at = name.find('@');
    std::size_t dot = name.rfind('.');
    if (at == std::string::npos || dot == std::string::npos || dot == at + 1) return "";
    return name.substr(0, at + 1) + name.substr(dot);
}

// The program of an ExecStart= value: its prefixes (-@:+!) removed, the first word;
// a name without '/' looked up in systemd's fixed directories. Returns it ("" when empty).
std::string exec_program(const std::string& value) {
    std::size_t start = value.find_first_not_of("-@:+!");
    if (start == std::string::npos) return "";
    std::vector<std::string> words = unit_words(value.substr(start));
    if (words.empty()) return "";
    if (words[0].find('/') != std::string::npos) return words[0];
    for (const char* dir : kExecSearchPath)
        if (::access((std::string(dir) + "/" + words[0]).c_str(), X_OK) == 0) return std::string(dir) + "/" + words[0];
    return words[0];
}

// The command line of an ExecStart= value: its prefixes (-@:+!) removed, its words joined
// by single spaces (with '@', the first word, the program, is not in argv: dropped). Returns it.
std::string exec_command(const std::string& value) {
    std::size_t start = value.find_first_not_of("-@:+!");
    if (start == std::string::npos) return "";
    std::vector<std::string> words = unit_words(value.substr(start));
    if (value.substr(0, start).find('@') != std::string::npos && !words.empty()) words.erase(words.begin());
    return command_line(words);
}

// Applies one Environment= value to unit.environment and unit.ld_preload. Returns nothing.
void apply_environment(const std::string& value, ServiceUnit& unit) {
    if (value.empty()) {  // "Environment=" resets the list
        unit.ld_preload.reset();
        unit.environment.clear();
        return;
    }
    for (const std::string& assignment : unit_words(value)) {
        std::size_t equals = assignment.find('=');
        if (equals == std::string::npos || equals == 0) continue;
        unit.environment[assignment.substr(0, equals)] = assignment.substr(equals + 1);
        if (assignment.starts_with("LD_PRELOAD=")) unit.ld_preload = assignment.substr(11);
    }
}

// Runs `systemctl show -p PROPERTY --value NAME`. Returns its output without the last newline.
std::string systemctl_property(const std::string& name, const std::string& property) {
    std::string command = "systemctl show -p " + property + " --value -- '" + name + "' 2>/dev/null";
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("cannot run systemctl");
    std::string out;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
    int status = ::pclose(pipe);
    if (status != 0) throw std::runtime_error("`systemctl show " + name + "` failed");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// The unit as systemd itself sees it. Returns it; throws when systemd does not know it.
ServiceUnit unit_from_systemctl(const std::string& name) {
    ServiceUnit unit;
    unit.name = name;
    unit.source = "systemctl show";
    if (systemctl_property(name, "LoadState") != "loaded") throw std::runtime_error("systemd has no unit " + name);
    // "{ path=/usr/sbin/nginx ; argv[]=/usr/sbin/nginx -g ... ; ... }"
    std::string exec = systemctl_property(name, "ExecStart");
    std::size_t path = exec.find("path=");
    if (path != std::string::npos) unit.program = exec.substr(path + 5, exec.find(' ', path) - path - 5);
    std::size_t argv = exec.find("argv[]=");
    if (argv != std::string::npos) {
        std::size_t end = exec.find(" ;", argv);
        unit.command = exec.substr(argv + 7, end == std::string::npos ? std::string::npos : end - argv - 7);
    }
    apply_environment(systemctl_property(name, "Environment"), unit);
    unit.no_exec_paths = !systemctl_property(name, "NoExecPaths").empty();
    // One "{ path=... ; argv[]=... ; ... }" per command line.
    const std::string conditions = systemctl_property(name, "ExecCondition");
    for (std::size_t at = conditions.find("argv[]="); at != std::string::npos; at = conditions.find("argv[]=", at + 7)) {
        std::string line = conditions.substr(at + 7, conditions.find(" ;", at) - at - 7);
        if (line.find(" kernel attach ") == std::string::npos) unit.exec_conditions.push_back(line);
    }
    return unit;
}

}  // namespace

std::vector<UnitSetting> unit_settings(const std::string& path, const std::string& section_name) {
    std::ifstream in(path);
    std::vector<UnitSetting> settings;
    const std::string wanted = "[" + section_name + "]";
    std::string section, line, pending;
    int number = 0, first_line = 0;
    while (std::getline(in, line)) {
        ++number;
        if (pending.empty()) first_line = number;
        else line = pending + " " + line;
        pending.clear();
        std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos) continue;
        line = line.substr(first);
        if (line[0] == '#' || line[0] == ';') continue;
        if (line.back() == '\\') {
            pending = line.substr(0, line.size() - 1);
            continue;
        }
        if (line[0] == '[') {
            section = line.substr(0, line.find(']') + 1);
            continue;
        }
        std::size_t equals = line.find('=');
        if (section != wanted || equals == std::string::npos) continue;
        std::string key = line.substr(0, equals);
        key.erase(key.find_last_not_of(" \t") + 1);
        std::string value = line.substr(equals + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        value.erase(value.find_last_not_of(" \t") + 1);
        settings.push_back({key, value, path, first_line});
    }
    return settings;
}

std::vector<std::string> unit_files(const std::string& name, const std::string& root, bool with_own_dropin) {
    std::vector<std::string> search = unit_search_path(root);
    std::string templ = template_name(name);
    std::string main;
    for (const std::string& candidate : {name, templ}) {
        if (candidate.empty() || !main.empty()) continue;
        for (const std::string& dir : search)
            if (is_file(dir + "/" + candidate)) {
                main = dir + "/" + candidate;
                break;
            }
    }
    if (main.empty()) {
        std::string where;
        for (const std::string& dir : search) where += (where.empty() ? "" : ", ") + dir;
        throw std::runtime_error("unit " + name + " not found in " + where);
    }
    // Drop-ins: the template's, then the instance's; a file name in a higher-priority
    // directory hides the same name in a lower one; applied in file-name order.
    std::vector<std::pair<std::string, std::string>> dropins;  // (file name, path)
    for (const std::string& unit : {templ, name}) {
        if (unit.empty()) continue;
        for (const std::string& dir : search) {
            std::error_code error;
            for (const auto& entry : std::filesystem::directory_iterator(dir + "/" + unit + ".d", error)) {
                std::string file = entry.path().filename();
                if (!file.ends_with(".conf") || (file == "bindguard.conf" && !with_own_dropin)) continue;
                bool hidden = std::any_of(dropins.begin(), dropins.end(), [&](const auto& d) { return d.first == file; });
                if (!hidden) dropins.emplace_back(file, entry.path().string());
            }
        }
    }
    std::stable_sort(dropins.begin(), dropins.end());
    std::vector<std::string> files = {main};
    for (const auto& dropin : dropins) files.push_back(dropin.second);
    return files;
}

std::string systemctl_value(const std::string& name, const std::string& property) {
    try {
        return systemctl_property(name, property);
    } catch (const std::runtime_error&) {
        return "";
    }
}

std::string service_unit_name(const std::string& unit) {
    for (const char* suffix : {".service", ".socket", ".target", ".timer", ".mount", ".path", ".slice", ".scope"})
        if (unit.ends_with(suffix)) return unit;
    return unit + ".service";
}

std::string service_of_unit(const std::string& unit) {
    const std::string base = unit.substr(0, unit.rfind('.'));
    return base.substr(0, base.find('@'));
}

std::string service_of_cgroup(const std::string& path) {
    const std::string last = path.substr(path.rfind('/') + 1);
    return last.ends_with(".service") || last.ends_with(".socket") ? service_of_unit(last) : last;
}

std::vector<std::string> unit_search_path(const std::string& root) {
    std::vector<std::string> dirs;
    for (const char* dir : {"/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
                            "/lib/systemd/system", "/usr/lib/systemd/system"})
        dirs.push_back(root + dir);
    return dirs;
}

bool systemd_running() {
    struct stat status{};
    return ::lstat("/run/systemd/system", &status) == 0 && S_ISDIR(status.st_mode);
}

std::optional<int> systemd_version() {
    FILE* pipe = ::popen("systemctl --version 2>/dev/null", "r");
    if (pipe == nullptr) return std::nullopt;
    char line[256] = {}, rest[256];
    const bool read = std::fgets(line, sizeof line, pipe) != nullptr;
    while (std::fgets(rest, sizeof rest, pipe) != nullptr) {  // the features line: drained
    }
    if (::pclose(pipe) != 0 || !read) return std::nullopt;
    int version = 0;
    if (std::sscanf(line, "systemd %d", &version) != 1 || version <= 0) return std::nullopt;
    return version;
}

ServiceUnit read_service_unit(const std::string& name, const std::string& root, bool use_systemctl,
                              bool with_own_dropin) {
    if (use_systemctl) return unit_from_systemctl(name);
    ServiceUnit unit;
    unit.name = name;
    std::vector<std::string> files = unit_files(name, root, with_own_dropin);
    unit.source = files.front();
    for (const std::string& file : files) {
        for (const UnitSetting& setting : service_settings(file)) {
            if (setting.key == "ExecStart") {
                if (setting.value.empty()) {  // "ExecStart=" resets the list
                    unit.program.clear();
                    unit.command.clear();
                } else if (unit.program.empty()) {
                    unit.program = exec_program(setting.value);
                    unit.command = exec_command(setting.value);
                }
            } else if (setting.key == "Environment") {
                apply_environment(setting.value, unit);
            } else if (setting.key == "NoExecPaths") {
                unit.no_exec_paths = !setting.value.empty();
            } else if (setting.key == "ExecCondition") {
                if (setting.value.empty()) unit.exec_conditions.clear();  // "ExecCondition=" resets the list
                else if (setting.value.find(" kernel attach ") == std::string::npos)
                    unit.exec_conditions.push_back(exec_command(setting.value));
            }
        }
    }
    if (unit.program.empty()) throw std::runtime_error("unit " + name + " (" + unit.source + ") has no ExecStart=");
    return unit;
}

std::string unit_of_process(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    std::string found;
    for (std::string line; std::getline(in, line);) {
        // "0::/system.slice/nginx.service" or "1:name=systemd:/system.slice/nginx.service"
        std::size_t path = line.find(':', line.find(':') + 1);
        if (path == std::string::npos) continue;
        std::string component, deepest;
        for (char c : line.substr(path + 1) + "/") {
            if (c != '/') {
                component += c;
                continue;
            }
            if (component.ends_with(".service")) deepest = component;
            component.clear();
        }
        if (!deepest.empty()) found = deepest;
    }
    return found;
}

std::vector<std::string> unit_words(const std::string& value) {
    std::vector<std::string> words;
    std::string current;
    bool in_word = false;
    char quote = 0;
    for (std::size_t i = 0; i < value.size(); ++i) {
        char c = value[i];
        if (c == '\\' && i + 1 < value.size()) {
            current += value[++i];
            in_word = true;
        } else if (quote != 0) {
            if (c == quote) quote = 0;
            else current += c;
        } else if (c == '"' || c == '\'') {
            quote = c;
            in_word = true;
        } else if (c == ' ' || c == '\t') {
            if (in_word) words.push_back(current);
            current.clear();
            in_word = false;
        } else {
            current += c;
            in_word = true;
        }
    }
    if (in_word) words.push_back(current);
    return words;
}

std::string exec_quoted(const std::string& word) {
    if (!word.empty() && word.find_first_of(" \t\"'\\$%;") == std::string::npos) return word;
    std::string out = "\"";
    for (char c : word) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '%' || c == '$') out += c;  // "%%" and "$$": a literal '%' and '$'
        out += c;
    }
    return out + "\"";
}

std::string unit_quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (c == '%') out += '%';  // "%%" is a literal '%' (specifiers)
        out += c;
    }
    return out + "\"";
}

}  // namespace bindguard::cli
