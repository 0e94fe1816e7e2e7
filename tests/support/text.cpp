// Text and file helpers shared by the test folders (see text.hpp).
#include "support/text.hpp"

#include <sys/stat.h>

#include <sstream>

#include "bindguard/compile.hpp"
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

std::string default_policy() {
    // A compiled copy: the library maps images, and none is kept in the source tree.
    // Readable by everyone, as the source tree's file is: some tests run programs as nobody.
    static const std::string copy = [] {
        const std::string path = write_policy(read_file(source_dir() + "/examples/policy/default.toml"));
        chmod(path.substr(0, path.rfind('/')).c_str(), 0755);
        chmod(path.c_str(), 0644);
        return path;
    }();
    return copy;
}

std::string write_uncompiled_policy(const std::string& text) {
    const std::string path = temp_dir() + "/policy.toml";
    write_file(path, text);
    return path;
}

std::string write_policy(const std::string& text) {
    const std::string path = write_uncompiled_policy(text);
    // An invalid policy has no image: the library then fails closed, as it must.
    bindguard::image::compile_file(path);
    return path;
}

}  // namespace bgtest
