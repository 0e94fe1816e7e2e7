// Finding, mapping and checking the compiled image of the process's policy file.
//
// The library never parses the TOML file: `bindguard compile FILE` writes its image, and
// here the image is looked for where the compiler writes it (bindguard/compile.hpp:
// FILE.compiled beside it, then /var/cache/bindguard/KEY, then the user's cache, which a
// set-uid program never reads), mapped read-only, checked (header, layout, and the
// checksum of an image up to kVerifiedImageBytes) and compared with one stat() of FILE.
// The first fresh image is used. No allocation: the paths are built in stack buffers.
#pragma once

#include <cstddef>

#include "bindguard/image_view.hpp"

namespace bindguard::shim {

// Images up to this size have their checksum verified at every start (a few
// microseconds); larger ones are read with every offset checked, and their checksum is
// verified by `bindguard check` and `audit`.
inline constexpr std::size_t kVerifiedImageBytes = 64 * 1024;

// The image the library carries for the built-in policy, and the fail-closed one
// (every non-loopback bind denied), both compiled at build time. Cheap (the header is
// looked at), with no static to guard: the exec functions call it after vfork().
image::PolicyImage builtin_image() noexcept;
image::PolicyImage fail_closed_image() noexcept;

// Maps the image of the policy file at source (an absolute path). On success fills out
// (the mapping stays for the life of the process) and returns true; otherwise writes
// into message (NUL-terminated) why, naming the file and the command that repairs it.
// user_cache is the user's cache directory of images ("" for none).
bool map_policy_image(const char* source, const char* user_cache, image::PolicyImage& out, char* message,
                      std::size_t message_size) noexcept;

}  // namespace bindguard::shim
