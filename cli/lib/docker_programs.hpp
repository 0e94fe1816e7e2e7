// The programs that make Docker's publishes, which neither the library nor the kernel twin
// may protect (`run`, `run --kernel` and `protect` refuse them): Docker's packet rules
// (iptables DNAT) forward a published port from every interface of the host wherever
// dockerd's or docker-proxy's socket is bound, so a bind rewritten to loopback would hide a
// public port without closing it. `bindguard docker authz` covers Docker instead.
#pragma once

#include <string>

namespace bindguard::cli {

// "dockerd", "containerd" or "docker-proxy" when path (a command as given, or a resolved
// path: symlinks are followed) is one of them by its basename, else nullptr. Returns it.
const char* docker_program(const std::string& path);

// Why program (one of the above) is refused, and what covers Docker instead: two sentences
// for a message of the form "refusing to ...: REASON". Returns it.
std::string docker_refusal_reason(const std::string& program);

}  // namespace bindguard::cli
