// What `bindguard compose-check` reads from a Compose file: each service's published
// ports (short and long syntax) and `network_mode: host`, with YAML anchors, aliases and
// merge keys ("<<") resolved and `extends` of a service of the same file followed, each
// at its position in the file. Uses yaml-cpp (the
// command only; the preload library never links it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compose_ports.hpp"

namespace bindguard::cli::compose {

// A place in a Compose file, 1-based (yaml-cpp counts from 0).
struct Position {
    std::string file;
    unsigned line = 0;
    unsigned column = 0;

    // "FILE:LINE:COL". Returns it.
    std::string to_string() const;
};

// One entry of a service's `ports`.
struct PortEntry {
    Position position;    // of the short-syntax string; of host_ip (else the entry) in the long syntax
    std::string service;  // the key under `services`
    bool long_syntax = false;
    std::string text;     // as written: "4000:4000", or "{target: 80, published: 8080, host_ip: 0.0.0.0}"
    PortSpec spec;
};

// A service whose `network_mode` is "host", or comes from a variable.
struct HostNetwork {
    Position position;  // of the value
    std::string service;
    std::string value;  // as written
    bool interpolated = false;
};

// Something that makes the file unusable for Compose (bad YAML, a malformed mapping).
struct FileError {
    Position position;
    std::string message;

    // "FILE:LINE:COL: error: MESSAGE" (or "warning:"). Returns it.
    std::string to_string(const char* severity = "error") const;
};

struct ComposeFile {
    std::string name;                   // as given (a path, or "<stdin>")
    std::vector<std::string> services;  // in file order
    std::vector<PortEntry> ports;       // in file order
    std::vector<HostNetwork> host_networks;
    std::vector<FileError> errors;      // empty when the file is usable
    std::vector<FileError> warnings;    // what is not checked (include:, extends from another file)
};

// Parses text as a Compose file named name. Never throws except std::bad_alloc: YAML
// errors and malformed entries become FileErrors (the rest of the file is still read
// when the YAML itself parsed).
ComposeFile read_compose(std::string_view text, const std::string& name);

}  // namespace bindguard::cli::compose
