// `bindguard explain ... ADDRESS:PORT`: what the policy does with one bind.
#include <iostream>
#include <memory>
#include <string>

#include "commands.hpp"
#include "policy_source.hpp"
#include "program_paths.hpp"

namespace bindguard::cli {
namespace {

struct ExplainOptions {
    std::string policy;
    std::string service;
    std::string program;
    std::string command;
    bool udp = false;
    bool v6only = false;
    std::string endpoint;
};

// Parses the ADDRESS:PORT argument. Returns the endpoint; throws UsageError naming it.
Endpoint parse_endpoint_argument(const std::string& text) {
    std::optional<Endpoint> endpoint = parse_endpoint(text);
    if (!endpoint) {
        throw UsageError("ADDRESS:PORT: invalid value '" + text +
                         "': expected an IPv4 or IPv6 address and a port 0-65535, "
                         "e.g. 0.0.0.0:3000 or [::]:3000");
    }
    return *endpoint;
}

// Prints the decision as one line: describe() + " (rule NAME)". Returns 0, or 1 when the
// policy is invalid (its diagnostics go to stderr), or throws UsageError on a bad ADDRESS:PORT.
int explain(const ExplainOptions& options) {
    Request request;
    request.address = parse_endpoint_argument(options.endpoint);
    request.protocol = options.udp ? Protocol::udp : Protocol::tcp;
    request.v6only = options.v6only;
    request.program = options.program;
    request.command = options.command;
    request.service = options.service;

    LoadResult loaded = load_and_report_policy(options.policy, std::cerr).loaded;
    if (!loaded.ok()) return kExitFailure;
    print_diagnostics(program_path_warnings(*loaded.policy), std::cerr);

    Decision decision = decide(*loaded.policy, request);
    char line[512];
    describe(request, decision, loaded.policy->mode == Mode::audit, line, sizeof line);
    std::cout << line << " (rule " << decision.rule << ")\n";
    return kExitOk;
}

}  // namespace

void add_explain_command(CLI::App& app, CommandAction& action) {
    auto options = std::make_shared<ExplainOptions>();
    CLI::App* sub = app.add_subcommand(
        "explain",
        "Show what the policy does with one bind.\n"
        "Prints one line on stdout, e.g.\n"
        "  rewrite tcp 0.0.0.0:3000 -> 127.0.0.1:3000 (rule default)\n"
        "(\"would-rewrite\"/\"would-deny\" when the policy's mode is audit).\n"
        "Without --policy: BINDGUARD_POLICY, else /etc/bindguard/policy.toml if it exists,\n"
        "else the built-in policy - the same lookup as the preload library.\n"
        "Exit 0; 1 when the policy is invalid (its errors go to stderr); 2 on a usage error.");
    sub->add_option("--policy", options->policy, "Policy file to use");
    sub->add_option("--service", options->service, "Service name (as BINDGUARD_SERVICE)");
    sub->add_option("--program", options->program, "Resolved path of the program that binds");
    sub->add_option("--command", options->command, "Its command line, arguments joined by spaces");
    sub->add_flag("--udp", options->udp, "A UDP bind (default: TCP)");
    sub->add_flag("--v6only", options->v6only, "The IPv6 socket has IPV6_V6ONLY=1");
    sub->add_option("ADDRESS:PORT", options->endpoint, "The address asked for, e.g. 0.0.0.0:3000 or [::]:3000")
        ->required();
    sub->callback([&action, options] { action = [options](const std::vector<std::string>&) { return explain(*options); }; });
}

}  // namespace bindguard::cli
