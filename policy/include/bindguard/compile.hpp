// The policy compiler: a parsed Policy as a compiled image (bindguard/image.h), and
// where the image of a policy file lives. Used by the command (`bindguard compile`,
// and `run`, `protect` and `kernel attach`, which compile when needed) and by the
// build (the library's built-in and fail-closed images).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bindguard/image_view.hpp"
#include "bindguard/policy.hpp"

namespace bindguard::image {

// The source file's identity (stat(2) and a hash of its text), stored in the image
// and compared by the library at every start.
struct SourceIdentity {
    std::string path;  // absolute
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_sec = 0;
    std::int64_t mtime_nsec = 0;
    std::uint64_t content_hash = 0;
};

// The image of policy: deterministic bytes (the same policy and source give the same
// image). Never throws except std::bad_alloc.
std::vector<unsigned char> compile(const Policy& policy, const SourceIdentity& source);

// Where the library looks for the image of the policy file at absolute path source,
// in order: beside it (SOURCE.compiled), the system cache (BG_IMAGE_SYSTEM_CACHE/KEY),
// then the user's cache ($XDG_CACHE_HOME or $HOME/.cache, /bindguard/KEY; not for
// set-uid programs). KEY is a hash of the path, so one cache holds many sources.
std::string beside_path(const std::string& source);
std::string cache_key(const std::string& source);
std::string system_cache_path(const std::string& source);
// The user's cache path, or "" when neither XDG_CACHE_HOME nor HOME is set (absolute).
std::string user_cache_path(const std::string& source);

// How a file on disk compares with the source it should be the image of.
enum class Freshness : std::uint8_t {
    fresh,         // checked, and its identity is the source's
    stale,         // a valid image of an earlier version of the source (or of another file)
    missing,       // no file there
    unreadable,    // cannot be opened or read
    invalid,       // not a valid image (image::Problem says why)
};

struct ImageStatus {
    std::string path;
    Freshness freshness = Freshness::missing;
    Problem problem = Problem::none;  // for invalid
    std::string detail;               // what differs (stale), or the error (unreadable)
};

// Reads the file at image_path (checksum verified) and compares it with the source
// file at source (one stat, and its text's hash when the stat matches).
ImageStatus image_status(const std::string& image_path, const std::string& source);

// The image the library would use for source, in the library's order: the first fresh
// one; else the first that exists (stale or invalid), else a missing beside_path().
ImageStatus find_image(const std::string& source);

}  // namespace bindguard::image

namespace bindguard::image {

// The rules of a compiled image that can apply to one process, with its settings, as a
// Policy: what for_process() gives for the parsed policy, read from the compiled form
// (the kernel twin's rule set is made from it, so both enforcement points read the one
// compiler's output). Rules keep their names, addresses, ports, protocol and position.
Policy process_policy(const PolicyImage& image, const std::string& program, const std::string& command,
                      const std::string& service);

// process_policy() of policy compiled in memory.
Policy process_policy(const Policy& policy, const std::string& program, const std::string& command,
                      const std::string& service);

// The absolute, lexically normal form of path (as the library makes BINDGUARD_POLICY):
// the name of a policy file that its image is keyed by.
std::string source_name(const std::string& path);

// What compile_file() did.
struct CompileOutcome {
    bool ok = false;
    std::string source;                    // source_name() of the file
    std::string image_path;                // where the image was written (ok)
    std::vector<Diagnostic> diagnostics;   // the policy's errors (and warnings, when asked)
    std::string error;                     // why nothing was written, when not a policy error
};

// Parses the policy file at path, compiles it and writes its image to the first place
// the library looks that this process can write: beside it, else (as root) the system
// cache, else the user's cache. Written to a temporary file in the same directory, then
// renamed over the old image, so that a reader never sees half an image; mode 0644.
// With warnings = report the policy's warnings are in diagnostics too.
CompileOutcome compile_file(const std::string& path, Warnings warnings = Warnings::skip);

// Writes bytes to path through a temporary file in its directory and rename(2).
// Returns "" or the error.
std::string write_atomically(const std::string& path, const std::vector<unsigned char>& bytes);

}  // namespace bindguard::image
