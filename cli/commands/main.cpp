// `bindguard`: dispatches to the subcommands defined in the other files of cli/.
#include <algorithm>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "commands.hpp"

namespace {

using namespace bindguard::cli;

// The top-level help lists each command with the first line of its description, as `git`
// and `systemctl` do; the whole description stays in the command's own --help.
class SummaryFormatter : public CLI::Formatter {
public:
    // One "  NAME   SUMMARY" line. Returns it.
    std::string make_subcommand(const CLI::App* sub) const override {
        std::string description = sub->get_description();
        std::stringstream out;
        CLI::detail::format_help(out, sub->get_display_name(true), description.substr(0, description.find('\n')),
                                 get_column_width());
        return out.str();
    }
};

// Prints the help of the subcommand that was parsed (CLI11 descends into it and names it
// "bindguard SUBCOMMAND"), or of the whole command. Returns nothing; writes to out.
void print_usage(CLI::App& app, std::ostream& out) {
    out << app.help();
}

// Builds the command line interface; `action` receives the chosen subcommand's function.
// Returns nothing.
void add_all_commands(CLI::App& app, CommandAction& action) {
    add_run_command(app, action);
    add_compile_command(app, action);
    add_check_command(app, action);
    add_explain_command(app, action);
    add_audit_command(app, action);
    add_protect_commands(app, action);
    add_compose_check_command(app, action);
    add_docker_command(app, action);
    add_kernel_command(app, action);
    add_shim_path_command(app, action);
    add_version_command(app, action);
}

// CLI11 would only say "A subcommand is required" for `bindguard frobnicate`.
// Returns normally when args[1] is an option or a subcommand; throws UsageError naming it.
void require_known_subcommand(const CLI::App& app, const std::vector<std::string>& args) {
    if (args.size() < 2 || args[1].starts_with("-")) return;
    std::string known;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
        if (sub->get_name() == args[1]) return;
        known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    throw UsageError("unknown command '" + args[1] + "' (commands: " + known + ")");
}

// For `bindguard run ... COMMAND ARGS...`: removes COMMAND ARGS... (and a "--" before
// them) from args, so that CLI11 never sees the program's own options. Returns them.
std::vector<std::string> split_off_command_line(const CLI::App& app, std::vector<std::string>& args) {
    if (args.size() < 2 || args[1] != "run") return {};
    std::vector<std::string> after_run(args.begin() + 2, args.end());
    std::size_t start = 2 + run_command_start(*app.get_subcommand("run"), after_run);
    std::vector<std::string> command(args.begin() + static_cast<std::ptrdiff_t>(start), args.end());
    args.resize(start);
    if (args.size() > 2 && args.back() == "--") args.pop_back();
    return command;
}

}  // namespace

namespace bindguard::cli {

bool attach_as_exec_condition(const std::vector<std::string>& args) {
    return args.size() > 2 && args[1] == "kernel" && args[2] == "attach" &&
           std::find(args.begin() + 3, args.end(), "--exec-condition") != args.end();
}

}  // namespace bindguard::cli

// Returns the exit status of the subcommand; 2 on a usage error or an unexpected error
// (255 for `kernel attach --exec-condition`),
// 0 after --help.
int main(int argc, char** argv) {
    CLI::App app{"bindguard: keep services on loopback at run time.\n"
                 "Diagnostics and errors go to stderr; results go to stdout.",
                 "bindguard"};
    app.formatter(std::make_shared<SummaryFormatter>());  // before the subcommands: they share it
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("bindguard ") + BINDGUARD_VERSION);
    CommandAction action;
    add_all_commands(app, action);
    // After the subcommands, which would copy it.
    app.footer("Run `bindguard COMMAND --help` for a command's options and details.");
    std::vector<std::string> args(argv, argv + argc);
    std::vector<std::string> passthrough = split_off_command_line(app, args);
    std::vector<const char*> own;
    for (const std::string& arg : args) own.push_back(arg.c_str());
    const int usage_status = attach_as_exec_condition(args) ? kExitConditionFailed : kExitUsage;
    try {
        require_known_subcommand(app, args);
        app.parse(static_cast<int>(own.size()), own.data());
        if (!action) throw CLI::RequiredError("a subcommand");
        return action(passthrough);
    } catch (const CLI::CallForHelp&) {
        print_usage(app, std::cout);
        return kExitOk;
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help("", CLI::AppFormatMode::All);
        return kExitOk;
    } catch (const CLI::CallForVersion& e) {
        std::cout << e.what() << '\n';
        return kExitOk;
    } catch (const CLI::ParseError& e) {
        std::cerr << "bindguard: " << e.what() << "\n\n";
        print_usage(app, std::cerr);
        return usage_status;
    } catch (const std::exception& e) {
        std::cerr << "bindguard: error: " << e.what() << '\n';
        return usage_status;
    }
}
