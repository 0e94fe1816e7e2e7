// `bindguard protect UNIT` and `bindguard unprotect UNIT`: a systemd drop-in that loads
// the library into an existing service (or, with --kernel, attaches the kernel twin to its
// cgroup at each start), without editing the vendor's unit file.
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.hpp"
#include "docker_programs.hpp"
#include "elf.hpp"
#include "policy_source.hpp"
#include "program_paths.hpp"
#include "protect_docker.hpp"
#include "protect_dropin.hpp"
#include "protect_socket.hpp"
#include "protectable.hpp"
#include "shim_locate.hpp"
#include "socket_unit.hpp"
#include "systemd_unit.hpp"

namespace bindguard::cli {
namespace {

constexpr const char* kDropInName = "bindguard.conf";
constexpr const char* kMarker = kProtectMarker;

struct ProtectOptions {
    std::string unit;
    std::string service;
    std::string policy;
    std::string root;
    bool backstop = false;
    bool kernel = false;        // the kernel twin, attached at each start (ExecCondition=+)
    bool with_preload = false;  // with --kernel: the library as well
    bool dry_run = false;
};

// The unit name, checked: the characters systemd allows in unit names (letters, digits,
// ':', '-', '_', '.', '\\', '@'), not starting with '.'. Returns "NAME.service" for a bare NAME.
std::string checked_unit_name(const std::string& unit) {
    bool allowed = unit.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.\\@") ==
                   std::string::npos;
    if (unit.empty() || !allowed || unit.starts_with("."))
        throw UsageError("UNIT: invalid unit name '" + unit + "' (e.g. nginx.service or postgresql@15-main.service)");
    return service_unit_name(unit);
}

// ROOT/etc/systemd/system/UNIT.d/bindguard.conf. Returns it.
std::string dropin_path(const std::string& root, const std::string& unit) {
    return root + "/etc/systemd/system/" + unit + ".d/" + kDropInName;
}

// The policy the service's library will load: --policy (absolute), else the system policy
// under root when there is one, else the built-in one. Validated; its warnings printed.
// Returns {the path for BINDGUARD_POLICY ("" to leave it unset), the policy}; stops with 2
// when it is invalid.
std::pair<std::string, Policy> service_policy(const ProtectOptions& options) {
    std::string path = options.policy.empty() ? "" : absolute(options.policy);
    std::string load_from = path;
    if (path.empty()) {
        struct stat status{};
        if (::lstat((options.root + kSystemPolicyPath).c_str(), &status) == 0) load_from = options.root + kSystemPolicyPath;
    }
    LoadResult loaded = load_from.empty() ? LoadResult{builtin_policy(), {}} : load_policy_file(load_from);
    print_diagnostics(loaded.diagnostics, std::cerr);
    if (!loaded.ok())
        fail("protect", "the policy " + load_from + " is invalid; fix it and check it with `bindguard check " + load_from + "`",
             kExitUsage);
    print_diagnostics(program_path_warnings(*loaded.policy), std::cerr);
    // The unit's library maps the compiled image: make it now (not for a --root tree,
    // whose paths are not this machine's, nor for a dry run, which writes nothing).
    if (!load_from.empty() && options.root.empty() && !options.dry_run)
        if (const std::string problem = ensure_compiled({load_from, "--policy"}, std::cerr); !problem.empty())
            fail("protect", "the policy " + load_from + " cannot be compiled for the library: " + problem,
                 kExitCannotRun);
    return {path, std::move(*loaded.policy)};
}

// The library's path, proven loadable. Returns it; stops with 126.
std::string loadable_shim() {
    ShimLocation shim = locate_shim();
    std::optional<std::string> problem;
    if (!shim.problem.empty()) problem = shim.problem;
    else if (shim.path.find_first_of(": ") != std::string::npos)
        problem = "its path contains a space or ':', which LD_PRELOAD cannot express";
    else problem = shim_load_error(shim.path);
    if (problem) fail("protect", "the bindguard library " + shim.path + " cannot be loaded: " + *problem, kExitCannotRun);
    return shim.path;
}

// Refuses a unit whose program the library cannot protect. Returns normally; stops with 126.
void require_protectable(const ServiceUnit& unit, const std::string& shim) {
    std::string error;
    std::optional<ElfFacts> facts = inspect_elf(shim, error);
    std::optional<ProtectionProblem> problem = protection_problem(unit.program, facts.value_or(ElfFacts{}));
    if (!problem) return;
    std::string what = problem->checked == unit.program ? unit.program : unit.program + "'s interpreter " + problem->checked;
    fail("protect", "refusing to protect " + unit.name + " (ExecStart= from " + unit.source + "): " + what + " " +
                        problem->reason + ".\nbindguard protect: " + problem->advice +
                        ".\nbindguard protect: for a unit: `bindguard protect " + unit.name + " --kernel`.",
         kExitCannotRun);
}

// Refuses a systemd older than 243, which would ignore ExecCondition= (with a warning)
// and start the unit unprotected. Returns normally (also when systemctl cannot tell);
// stops with 126.
void require_exec_condition() {
    std::optional<int> version = systemd_version();
    if (version && *version < 243)
        fail("protect", "--kernel needs systemd 243 or later (ExecCondition=, which attaches before anything of the "
                        "unit runs); this is systemd " + std::to_string(*version) +
                            ", which would ignore that line and start the unit unprotected",
             kExitCannotRun);
}

// Warns that the unit's own ExecCondition= lines run before bindguard's attach (systemd
// runs a drop-in's after the unit file's), so unprotected. Returns nothing.
void warn_about_conditions(const ServiceUnit& unit) {
    for (const std::string& line : unit.exec_conditions)
        std::cerr << "bindguard protect: warning: " << unit.name << " has its own ExecCondition=" << line << " ("
                  << unit.source << "): systemd runs it before bindguard's `kernel attach`, so without the kernel "
                     "twin; a condition check should not bind, but if it does, reset ExecCondition= in another "
                     "drop-in and list it again after bindguard's\n";
}

// Writes text to path through a temporary file and rename. Returns nothing; stops with 1.
void write_dropin(const std::string& path, const std::string& text) {
    std::error_code error;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
    if (error) fail("protect", "cannot create " + std::filesystem::path(path).parent_path().string() + ": " + error.message(), kExitFailure);
    std::string temporary = path + ".new";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << text;
        if (!out.flush()) fail("protect", "cannot write " + temporary + ": " + std::strerror(errno), kExitFailure);
    }
    ::chmod(temporary.c_str(), 0644);
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        int saved = errno;
        ::unlink(temporary.c_str());
        fail("protect", "cannot write " + path + ": " + std::strerror(saved), kExitFailure);
    }
}

// The lines that say what to run next. Returns them.
std::string next_steps(const std::string& unit, const std::string& root) {
    std::string systemctl = root.empty() ? "systemctl" : "systemctl --root=" + root;
    return "Next: systemctl daemon-reload && systemctl restart " + unit + "\n" +
           (root.empty() ? "" : "(for an image under " + root + ", the next boot reads it; `" + systemctl + " cat " + unit + "` shows it)\n");
}

// `bindguard protect UNIT.socket`: refused without --kernel (pid 1 binds its sockets);
// with --kernel, the drop-in that attaches the kernel twin to the socket unit's cgroup
// before systemd binds there. Returns the exit status; stops with 1, 2 or 126.
int protect_socket_unit(const ProtectOptions& options, const std::string& name) {
    if (options.with_preload)
        throw UsageError("--with-preload: not for a socket unit (systemd, pid 1, binds its sockets and cannot be preloaded)");
    if (options.backstop) throw UsageError("--backstop: only for a service");
    auto [policy_path, policy] = service_policy(options);
    SocketUnit unit;
    try {
        unit = read_socket_unit(name, options.root);
    } catch (const std::runtime_error& error) {
        fail("protect", error.what(), kExitFailure);
    }
    const std::string service = options.service.empty() ? socket_service_name(unit) : options.service;
    if (!options.kernel) fail("protect", socket_refusal(unit, policy, service), kExitCannotRun);
    if (options.root.empty() && systemd_running())
        if (std::optional<std::string> reason = pid1_binds_outside_cgroups())
            fail("protect", "refusing to protect " + name + " with --kernel: " + *reason +
                                ".\nbindguard protect: listen on loopback in the unit instead (ListenStream=127.0.0.1:PORT)",
                 kExitCannotRun);
    for (const ListenLine& line : unit.listens)
        if (line.ip && line.protocol == Protocol::other &&
            judge_listen(policy, service, unit, line).kind == ListenVerdict::Kind::exposed)
            fail("protect", "refusing to protect " + name + " with --kernel: " + line.where() +
                                " is SCTP, whose binds the kernel twin is not known to see (untested), and which "
                                "`kernel check-socket` cannot read back; listen on loopback in the unit instead",
                 kExitCannotRun);
    for (const std::string& warning : socket_start_pre_warnings(unit))
        std::cerr << "bindguard protect: warning: " << warning << '\n';
    std::string text = std::string(kMarker) + " " + name + "` (bindguard " + BINDGUARD_VERSION + ").\n"
                       "# The kernel twin keeps the binds systemd makes for this socket unit (for " + unit.service +
                       ")\n# on loopback, except where the policy allows them. Remove with `bindguard unprotect " + name +
                       "`.\n[Socket]\n" + socket_kernel_lines(exec_quoted(own_path()), policy_path, service);
    if (options.dry_run) {
        std::cout << text;
        return kExitOk;
    }
    std::string path = dropin_path(options.root, name);
    write_dropin(path, text);
    std::string systemctl = options.root.empty() ? "systemctl" : "systemctl --root=" + options.root;
    std::cout << "bindguard protect: wrote " << path << " (" << name << ", for " << unit.service << ", service "
              << service << ")\nNext: systemctl daemon-reload && systemctl stop " << unit.service << " " << name
              << " && systemctl start " << name << " (the service holds the old sockets until it stops)\n"
              << (options.root.empty() ? "" : "(for an image under " + options.root + ", the next boot reads it; `" +
                                                  systemctl + " cat " + name + "` shows it)\n")
              << "Then check it with: bindguard audit and bindguard kernel status\n";
    return kExitOk;
}

// Refuses a unit that runs Docker's daemons (by its name, or by its program): no drop-in of
// the library or the kernel twin can keep Docker's publishes on loopback. Returns normally;
// stops with 126.
void refuse_docker_unit(const std::string& name, const std::string& program) {
    const char* docker = docker_program(program);
    if (docker == nullptr && name == "docker.socket") docker = "dockerd";
    if (docker == nullptr && name == "containerd.service") docker = "containerd";
    if (docker == nullptr) return;
    fail("protect", "refusing to protect " + name + " (" + docker + "): " + docker_refusal_reason(docker) + ".",
         kExitCannotRun);
}

// `protect docker` (and docker.service): Docker's authorization plugin, never a drop-in of
// the library or the kernel twin. Returns the exit status.
int protect_docker_unit(const ProtectOptions& options) {
    if (options.backstop || options.with_preload || !options.service.empty())
        throw UsageError("--backstop, --with-preload, --service: not for Docker (its authorization plugin judges each "
                         "container by its Compose service or name)");
    if (options.kernel)
        std::cerr << "bindguard protect: --kernel: not for Docker: the kernel twin would rewrite docker-proxy's binds "
                     "while Docker's packet rules still publish on every interface\n";
    return protect_docker({options.policy, options.root, options.dry_run});
}

// The whole of `bindguard protect`. Returns the exit status.
int protect(const ProtectOptions& options) {
    if (options.unit == "docker" || options.unit == "docker.service") return protect_docker_unit(options);
    std::string name = checked_unit_name(options.unit);
    try {
        refuse_docker_unit(name, "");
        if (options.kernel && !kHasKernelTwin) fail("protect", std::string("--kernel: ") + kNoKernelTwin, kExitCannotRun);
        if (name.ends_with(".socket")) return protect_socket_unit(options, name);
        auto [policy_path, policy] = service_policy(options);
        if (options.with_preload && !options.kernel) throw UsageError("--with-preload: only with --kernel");
        if (options.kernel && options.root.empty()) require_exec_condition();
        const bool preload = !options.kernel || options.with_preload;
        std::string shim = preload ? loadable_shim() : "";
        ServiceUnit unit;
        try {
            unit = read_service_unit(name, options.root, options.root.empty() && systemd_running());
        } catch (const std::runtime_error& error) {
            fail("protect", error.what(), kExitFailure);
        }
        refuse_docker_unit(name, unit.program);
        if (preload) require_protectable(unit, shim);
        if (options.kernel) warn_about_conditions(unit);
        std::string service = options.service.empty() ? service_of_unit(name) : options.service;
        std::vector<std::string> backstop;
        if (options.backstop) backstop = backstop_ports(policy, service, unit.program);
        std::string text = dropin_text({options.kernel, options.with_preload, options.backstop,
                                        options.kernel ? own_path() : ""},
                                       unit, shim, policy_path, service, backstop);
        // Sockets systemd binds for the service: no drop-in of the service reaches them.
        SocketFindings sockets = service_socket_findings(name, options.root, policy, service);
        for (const std::string& warning : sockets.warnings) std::cerr << "bindguard protect: warning: " << warning << '\n';
        const int status = sockets.exposed ? kExitFailure : kExitOk;
        const std::string not_protected = "bindguard protect: " + name + " is NOT protected: a socket unit of it "
                                          "listens publicly (above); this drop-in covers only what it binds itself\n";
        if (options.dry_run) {
            std::cout << text;
            if (sockets.exposed) std::cerr << not_protected;
            return status;
        }
        std::string path = dropin_path(options.root, name);
        write_dropin(path, text);
        std::cout << "bindguard protect: wrote " << path << " (" << unit.name << ": " << unit.program << ", service "
                  << service << ")\n"
                  << next_steps(name, options.root) << "Then check it with: bindguard audit"
                  << (options.kernel ? " and bindguard kernel status" : "") << '\n';
        if (sockets.exposed) std::cerr << not_protected;
        return status;
    } catch (const Stop& stop) {
        return stop.status;
    }
}

// The whole of `bindguard unprotect`. Returns 0, or 1 when there is nothing of ours to remove.
int unprotect(const ProtectOptions& options) {
    if (options.unit == "docker" || options.unit == "docker.service") return unprotect_docker(options.root);
    std::string name = checked_unit_name(options.unit);
    std::string path = dropin_path(options.root, name);
    try {
        std::ifstream in(path);
        if (!in) fail("unprotect", name + " is not protected: there is no " + path, kExitFailure);
        std::string first;
        std::getline(in, first);
        if (!first.starts_with(kMarker))
            fail("unprotect", path + " was not written by `bindguard protect`; leaving it alone", kExitFailure);
        if (::unlink(path.c_str()) != 0) fail("unprotect", "cannot remove " + path + ": " + std::strerror(errno), kExitFailure);
        ::rmdir(std::filesystem::path(path).parent_path().c_str());  // only when empty
        std::cout << "bindguard unprotect: removed " << path << '\n';
        if (name.ends_with(".socket"))  // its service keeps the sockets it was given until it stops
            std::cout << "Next: systemctl daemon-reload && systemctl restart " << name
                      << " (and the service it activates, which keeps the sockets it was given until it stops)\n";
        else std::cout << next_steps(name, options.root);
        return kExitOk;
    } catch (const Stop& stop) {
        return stop.status;
    }
}

}  // namespace

void add_protect_commands(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<ProtectOptions>();
    CLI::App* sub = app.add_subcommand(
        "protect",
        "Protect an existing systemd service with a drop-in, leaving its unit file alone.\n"
        "Writes /etc/systemd/system/UNIT.d/bindguard.conf, which sets LD_PRELOAD (the library first,\n"
        "what the unit already preloads kept), BINDGUARD_POLICY (with --policy) and BINDGUARD_SERVICE\n"
        "(--service, else the unit's name without suffix and instance). First checks the unit's program\n"
        "as `bindguard run` does (from `systemctl show` when systemd runs, else from the unit file and\n"
        "its drop-ins) and refuses, with the reason, one the library cannot protect (exit 126).\n"
        "--backstop adds SocketBindAllow= for the ports the policy gives the service, and\n"
        "SocketBindDeny=any: the kernel then refuses any other port, whatever the program does.\n"
        "--kernel protects it with the kernel twin instead of the library (any program: Go, static,\n"
        "set-uid): ExecCondition=+`bindguard kernel attach` attaches the BPF programs to the unit's own\n"
        "cgroup at each start, before its ExecStartPre= lines, and fails the unit when it cannot;\n"
        "ExecStopPost=+`kernel detach` (kept while processes it left behind still run). Needs\n"
        "systemd 243 or later (refused, exit 126, when `systemctl --version` says older).\n"
        "--with-preload (with --kernel) sets up the library as well.\n"
        "Socket activation: systemd (pid 1) binds a socket unit's listen lines and hands them to the\n"
        "service, where no drop-in of the service reaches. For a service, each listen line of its socket\n"
        "units (Sockets=, NAME.socket, TriggeredBy=) is judged for the service: a public one is named,\n"
        "with the fix, and the exit is 1 (the drop-in is written all the same). UNIT.socket is refused\n"
        "without --kernel (exit 126); with --kernel its drop-in attaches the kernel twin to the socket\n"
        "unit's cgroup as ExecStartPre=+ (systemd binds its IP lines there, after it), checks as\n"
        "ExecStartPost=+ that none is public all the same (else the unit fails, its sockets closed),\n"
        "and detaches as ExecStopPost=+.\n"
        "`protect docker` (or docker.service) writes no such drop-in: the library and the kernel twin cannot\n"
        "keep Docker's publishes on loopback (its packet rules publish on every interface). It sets up\n"
        "Docker's authorization plugin instead: bindguard-docker-authz.socket and .service (`bindguard\n"
        "docker authz` at /run/docker/plugins/bindguard.sock), a docker.service drop-in that needs them, and\n"
        "\"bindguard\" in \"authorization-plugins\" of /etc/docker/daemon.json (other keys kept); dockerd\n"
        "must restart. containerd.service, and units that run dockerd, containerd or docker-proxy, are refused.\n"
        "Says what to run next (systemctl daemon-reload, restart). Exit 0; 1 when the unit is not\n"
        "found, the drop-in cannot be written or a socket unit of the service listens publicly; 2 on a\n"
        "usage error or an invalid policy.");
    sub->add_option("UNIT", options->unit,
                    "The service or socket unit, e.g. nginx.service, redis-server, postgresql@15-main, app.socket")
        ->required();
    sub->add_option("--service", options->service, "BINDGUARD_SERVICE for it (default: the unit's name, e.g. nginx)");
    sub->add_option("--policy", options->policy, "Policy file for it (default: /etc/bindguard/policy.toml, else built-in)");
    sub->add_flag("--backstop", options->backstop, "Also pin its ports in the kernel with SocketBindAllow=/SocketBindDeny=any");
    sub->add_flag("--kernel", options->kernel,
                  "Protect it with the kernel twin (cgroup BPF, attached at each start; fails closed) instead of the library");
    sub->add_flag("--with-preload", options->with_preload, "With --kernel: set up the library as well");
    sub->add_flag("--dry-run", options->dry_run, "Print the drop-in instead of writing it");
    sub->add_option("--root", options->root, "Operate on the systemd directories under this directory (an image, a test)");
    sub->callback([&action, options] { action = [options](const std::vector<std::string>&) { return protect(*options); }; });

    auto undo = std::make_shared<ProtectOptions>();
    CLI::App* unsub = app.add_subcommand(
        "unprotect",
        "Remove the drop-in `bindguard protect` wrote for a systemd service or socket unit.\n"
        "Removes /etc/systemd/system/UNIT.d/bindguard.conf (only a file bindguard wrote) and says what\n"
        "to run next. `unprotect docker` removes what `protect docker` wrote, and \"bindguard\" from\n"
        "daemon.json's \"authorization-plugins\". Exit 0; 1 when there is no such drop-in; 2 on a usage error.");
    unsub->add_option("UNIT", undo->unit, "The service or socket unit, e.g. nginx.service, app.socket")->required();
    unsub->add_option("--root", undo->root, "Operate on the systemd directories under this directory");
    unsub->callback([&action, undo] { action = [undo](const std::vector<std::string>&) { return unprotect(*undo); }; });
}

}  // namespace bindguard::cli
