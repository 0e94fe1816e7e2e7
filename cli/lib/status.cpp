// Stopping a command with a message (see status.hpp).
#include "status.hpp"

#include <iostream>

namespace bindguard::cli {

void fail(std::string_view command, const std::string& message, int status) {
    std::cerr << "bindguard " << command << ": " << message << '\n';
    throw Stop{status};
}

}  // namespace bindguard::cli
