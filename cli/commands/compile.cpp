// `bindguard compile FILE...`: writes each policy file's compiled image, which the
// library maps instead of parsing the TOML (bindguard/compile.hpp says where it goes).
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "bindguard/compile.hpp"
#include "commands.hpp"
#include "policy_source.hpp"

namespace bindguard::cli {
namespace {

// Compiles one file: "FILE: compiled (N rules) -> IMAGE" on stdout, problems on stderr.
bool compile_one(const std::string& file) {
    const image::CompileOutcome outcome = image::compile_file(file);
    print_diagnostics(outcome.diagnostics, std::cerr);
    if (!outcome.error.empty()) std::cerr << "bindguard: error: " << outcome.error << '\n';
    if (!outcome.ok) return false;
    std::cout << outcome.source << ": compiled -> " << outcome.image_path << '\n';
    return true;
}

int compile_all(const std::vector<std::string>& files) {
    bool all = true;
    for (const std::string& file : files) all = compile_one(file) && all;
    return all ? kExitOk : kExitFailure;
}

}  // namespace

void add_compile_command(CLI::App& app, CommandAction& action) {
    auto files = std::make_shared<std::vector<std::string>>();
    CLI::App* sub = app.add_subcommand(
        "compile",
        "Compile policy files into the images the library reads.\n"
        "The library never parses TOML: it maps FILE's compiled image, looked for beside it\n"
        "(FILE.compiled), then in /var/cache/bindguard/, then in the user's cache\n"
        "(~/.cache/bindguard/; never for set-uid programs). The image is written to the first\n"
        "of these this user can write, through a temporary file and rename(2). An image\n"
        "records FILE's identity (device, inode, size, mtime): once FILE changes, processes\n"
        "that use it refuse every non-loopback bind until it is compiled again. `run`,\n"
        "`protect` and `kernel attach` compile when needed. Exit 0 when every file compiled,\n"
        "1 when any did not (its errors as FILE:LINE:COL: error: ...), 2 on a usage error.");
    sub->add_option("FILE", *files, "Policy files (TOML) to compile")->required();
    sub->callback([&action, files] { action = [files](const std::vector<std::string>&) { return compile_all(*files); }; });
}

}  // namespace bindguard::cli
