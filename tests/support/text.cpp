// Text and file helpers shared by the test folders (see text.hpp).
#include "support/text.hpp"

#include <sstream>

#include "support/process.hpp"

namespace bgtest {

Fields fields(const std::string& line) {
    Fields out;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
        const auto equals = word.find('=');
        if (equals != std::string::npos) out[word.substr(0, equals)] = word.substr(equals + 1);
    }
    return out;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream stream(text);
    for (std::string line; std::getline(stream, line);) out.push_back(line);
    return out;
}

std::string default_policy() { return source_dir() + "/examples/policy/default.toml"; }

std::string write_policy(const std::string& text) {
    const std::string path = temp_dir() + "/policy.toml";
    write_file(path, text);
    return path;
}

}  // namespace bgtest
