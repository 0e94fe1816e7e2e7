// `bindguard protect docker` and `unprotect docker` (also for docker.service): Docker's
// authorization plugin set up on a systemd host, instead of any drop-in of the library or
// the kernel twin (which cannot keep Docker's publishes on loopback).
#pragma once

#include <string>

namespace bindguard::cli {

struct DockerProtectOptions {
    std::string policy;  // for `docker authz --policy` ("" = the system policy, else built-in)
    std::string root;    // operate under this directory (an image, a test)
    bool dry_run = false;
};

// Writes ROOT/etc/systemd/system/bindguard-docker-authz.{socket,service} (the plugin, socket
// activated at /run/docker/plugins/bindguard.sock), a drop-in for docker.service that makes
// it need that socket, and adds "bindguard" to "authorization-plugins" of
// ROOT/etc/docker/daemon.json (every other key kept). Says that dockerd must restart.
// Returns the exit status (0; 1 when a file cannot be written or daemon.json is not
// readable JSON; 2 on an invalid policy).
int protect_docker(const DockerProtectOptions& options);

// Removes what protect_docker() added (its files, and "bindguard" from daemon.json).
// Returns 0, or 1 when nothing of it was there.
int unprotect_docker(const std::string& root);

}  // namespace bindguard::cli
