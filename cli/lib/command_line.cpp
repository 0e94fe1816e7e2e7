// Command lines as rules see them (see command_line.hpp).
#include "command_line.hpp"

namespace bindguard::cli {

std::string command_line(const std::vector<std::string>& args) {
    std::size_t count = args.size();
    while (count > 0 && args[count - 1].empty()) --count;  // the library drops the trailing NULs
    std::string line;
    for (std::size_t i = 0; i < count; ++i) {
        if (i > 0) line += ' ';
        line += args[i];
    }
    return line;
}

}  // namespace bindguard::cli
