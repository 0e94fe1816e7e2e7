// Reading what `bindguard protect` needs to know about a systemd service: its program,
// its environment's LD_PRELOAD and its NoExecPaths=, from `systemctl show` when systemd
// runs, else from the unit file and its drop-ins on systemd's search path.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bindguard::cli {

struct ServiceUnit {
    std::string name;                 // "nginx.service", "postgresql@15-main.service"
    std::string source;               // the unit file read, or "systemctl show"
    std::string program;              // the first ExecStart='s program, as written (absolute)
    std::string command;              // its command line: the words of ExecStart= (prefixes removed) joined by spaces
    std::optional<std::string> ld_preload;  // LD_PRELOAD from its Environment=, when set
    std::map<std::string, std::string> environment;  // every Environment= assignment, the last one winning
    bool no_exec_paths = false;       // NoExecPaths= is set: libraries must be in ExecPaths=
    std::vector<std::string> exec_conditions;  // its ExecCondition= command lines (but bindguard's `kernel attach`)
};

// One "Key=Value" of a unit file (continuation lines joined), where it was written.
struct UnitSetting {
    std::string key, value;
    std::string file;
    int line = 0;  // 1-based, of the setting's first line
};

// The settings of one section ("Service", "Socket", "Unit") of a unit file, in order
// (continuation lines joined, comments dropped, the value's surrounding blanks trimmed).
// Returns them; empty when the file cannot be read.
std::vector<UnitSetting> unit_settings(const std::string& path, const std::string& section);

// The files that make up the unit under root ("" for the real system): the unit file
// first (for "a@b.service" the template "a@.service" when there is no instance file),
// then its drop-ins in the order systemd applies them (UNIT.d/*.conf and the template's;
// bindguard.conf only with with_own_dropin). Returns them; throws std::runtime_error
// naming the directories searched when there is no unit file.
std::vector<std::string> unit_files(const std::string& name, const std::string& root, bool with_own_dropin);

// `systemctl show -p PROPERTY --value NAME` ("TriggeredBy" of a service: its socket,
// path and timer units). Returns its output without the last newline; "" when it fails.
std::string systemctl_value(const std::string& name, const std::string& property);

// "nginx" -> "nginx.service"; names with a unit suffix are kept. Returns the name.
std::string service_unit_name(const std::string& unit);

// The service name bindguard gives a unit when --service names none (BINDGUARD_SERVICE, a
// rule's `service`): the unit's name without its suffix and without its instance.
// "nginx.service" -> "nginx", "postgresql@15-main.service" -> "postgresql", "app.socket"
// -> "app", "app@.service" -> "app", "a.b.service" -> "a.b"; a name without a suffix is
// kept (but for its instance). Returns it.
std::string service_of_unit(const std::string& unit);

// The same for a cgroup path (".../system.slice/nginx.service" -> "nginx"): service_of_unit()
// of its last component when that is a service's or a socket unit's (".service",
// ".socket"), else the last component as it is (a cgroup `kernel attach --any-cgroup` was
// allowed, e.g. "user.slice" or "my-group"). Returns it.
std::string service_of_cgroup(const std::string& path);

// The directories systemd reads units from, under root ("" for the real system), highest
// priority first: /etc/systemd/system, /run/systemd/system, /usr/local/lib/systemd/system,
// /lib/systemd/system, /usr/lib/systemd/system. Returns them.
std::vector<std::string> unit_search_path(const std::string& root);

// True when systemd is the running service manager (/run/systemd/system exists).
bool systemd_running();

// The version of the installed systemd ("systemd 252 (...)" from `systemctl --version`),
// or nullopt when systemctl cannot be run or says something else.
std::optional<int> systemd_version();

// Reads the unit: with `systemctl show` when use_systemctl, else from the unit file
// (for "a@b.service" the template "a@.service" when there is no instance file) and its
// drop-ins (UNIT.d/*.conf and the template's; bindguard.conf only with with_own_dropin)
// under root. Returns it; throws std::runtime_error saying what is missing (unit not
// found, no ExecStart=).
ServiceUnit read_service_unit(const std::string& name, const std::string& root, bool use_systemctl,
                              bool with_own_dropin = false);

// The systemd service unit pid runs in, from /proc/PID/cgroup (the deepest path component
// ending in ".service", in any hierarchy). Returns its name, or "" when it is in none.
std::string unit_of_process(pid_t pid);

// Splits a systemd value into words as systemd does for ExecStart= and Environment=:
// whitespace-separated, "double" and 'single' quotes, backslash escapes. Returns them.
std::vector<std::string> unit_words(const std::string& value);

// Quotes one word for a command line of ExecStartPre= and the like: as it is when it has
// nothing systemd would read specially, else in double quotes with \ and " escaped and
// % and $ doubled. Returns it.
std::string exec_quoted(const std::string& word);

// Quotes text for an Environment= assignment ("NAME=VALUE" in double quotes, with \ and "
// escaped, % doubled). Returns it.
std::string unit_quoted(const std::string& text);

}  // namespace bindguard::cli
