// `bindguard shim-path`: prints the absolute path of the library that belongs to this command.
#include <iostream>

#include "commands.hpp"
#include "shim_locate.hpp"

namespace bindguard::cli {
namespace {

// Prints the library's path. Returns 0, or 1 when the file does not exist.
int print_shim_path() {
    ShimLocation shim = locate_shim();
    if (!shim.problem.empty()) {
        std::cerr << "bindguard shim-path: library not found: " << shim.path << ": " << shim.problem
                  << (shim.from_env ? " (named by BINDGUARD_SHIM)" : " (is bindguard installed completely?)")
                  << '\n';
        return kExitFailure;
    }
    std::cout << shim.path << '\n';
    return kExitOk;
}

}  // namespace

void add_shim_path_command(CLI::App& app, CommandAction& action) {
    CLI::App* sub = app.add_subcommand(
        "shim-path",
        "Print the path of the preload library that belongs to this command.\n"
        "The absolute path, found relative to the executable; the environment variable\n"
        "BINDGUARD_SHIM overrides.\n"
        "Exit 0; 1 when the file does not exist.");
    sub->callback([&action] { action = [](const std::vector<std::string>&) { return print_shim_path(); }; });
}

}  // namespace bindguard::cli
