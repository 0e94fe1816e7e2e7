// A program's command line as a rule's `command` glob sees it.
#pragma once

#include <string>
#include <vector>

namespace bindguard::cli {

// The arguments joined by single spaces, each as it is (no quoting: {"a b", "c"} and
// {"a", "b", "c"} give the same line), exactly as the library joins /proc/self/cmdline
// (shim/launch.cpp): empty arguments at the end are dropped, the others each give their
// space ({"", "x"} -> " x", {"a", "", "b"} -> "a  b", {"a", ""} -> "a"). Returns it; ""
// for none.
std::string command_line(const std::vector<std::string>& args);

}  // namespace bindguard::cli
