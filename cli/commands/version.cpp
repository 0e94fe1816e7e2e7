// `bindguard version`: prints "bindguard VERSION".
#include <iostream>

#include "commands.hpp"

namespace bindguard::cli {

void add_version_command(CLI::App& app, CommandAction& action) {
    CLI::App* sub = app.add_subcommand("version", "Print the version (\"bindguard X.Y.Z\") and exit 0.");
    sub->callback([&action] {
        action = [](const std::vector<std::string>&) {
            std::cout << "bindguard " << BINDGUARD_VERSION << '\n';
            return kExitOk;
        };
    });
}

}  // namespace bindguard::cli
