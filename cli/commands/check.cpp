// `bindguard check FILE...`: validates policy files.
#include <sys/stat.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "policy_source.hpp"
#include "program_paths.hpp"

namespace bindguard::cli {
namespace {

// The problem with the policy's log file as it is on this machine, or "" when it
// is fine: the library only appends to a regular file (or creates one); anything
// else there (a FIFO would hang every process at start) is refused and the
// library logs to stderr instead.
std::string log_file_problem(const LogSettings& log) {
    if (log.to != LogSink::file) return "";
    struct stat status {};
    if (stat(log.path.c_str(), &status) != 0 || S_ISREG(status.st_mode)) return "";
    const char* what = S_ISFIFO(status.st_mode)  ? "a FIFO"
                       : S_ISDIR(status.st_mode) ? "a directory"
                       : S_ISSOCK(status.st_mode) ? "a socket"
                       : S_ISCHR(status.st_mode)  ? "a character device"
                                                  : "not a regular file";
    return "log.path \"" + log.path + "\" is " + what +
           ", not a regular file: the library would refuse it and log to stderr";
}

// Validates one file: "FILE: ok (N rules)" on stdout, diagnostics on stderr.
// Returns true when the file is a valid policy (warnings allowed) whose log
// file, if any, is usable.
bool check_one(const std::string& file) {
    LoadResult result = load_policy_file(file);
    print_diagnostics(result.diagnostics, std::cerr);
    if (!result.ok()) return false;
    print_diagnostics(program_path_warnings(*result.policy), std::cerr);
    if (const std::string problem = log_file_problem(result.policy->log); !problem.empty()) {
        std::cerr << file << ": error: " << problem << '\n';
        return false;
    }
    std::cout << file << ": ok (" << result.policy->rules.size() << " rules)\n";
    // What the library would map for it: a stale or damaged image is a warning (check
    // never writes one; `compile` does, and `run`, `protect` and `kernel attach`).
    if (const std::string warning = image_warning(file); !warning.empty()) std::cerr << warning << '\n';
    return true;
}

// Validates every file, even after a failure. Returns 0 when all are valid, else 1.
int check_all(const std::vector<std::string>& files) {
    bool all_valid = true;
    for (const std::string& file : files) all_valid = check_one(file) && all_valid;
    return all_valid ? kExitOk : kExitFailure;
}

}  // namespace

void add_check_command(CLI::App& app, CommandAction& action) {
    auto files = std::make_shared<std::vector<std::string>>();
    CLI::App* sub = app.add_subcommand(
        "check",
        "Validate policy files.\n"
        "Prints \"FILE: ok (N rules)\" to stdout for each valid file, and each problem as\n"
        "\"FILE:LINE:COL: error: ...\" (or \"warning:\") to stderr; a compiled image of the file (what the\n"
        "library maps) that is stale or damaged is a warning. check never writes one (see compile). A warning also names each rule whose\n"
        "program is a symlink (rules match the resolved path) and the path it should use.\n"
        "Exit 0 when every file is valid, 1 when any is not, 2 on a usage error.");
    sub->add_option("FILE", *files, "Policy files (TOML) to validate")->required();
    sub->callback([&action, files] { action = [files](const std::vector<std::string>&) { return check_all(*files); }; });
}

}  // namespace bindguard::cli
