#include "policy_image.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "builtin_images.inc"

namespace bindguard::shim {
namespace {

// An embedded image: a constant of the build, checked (checksum included) by the tool
// that wrote it (embed_images.cpp), so only its header is looked at here.
image::PolicyImage make_embedded(const unsigned char* bytes, std::size_t size) noexcept {
    image::PolicyImage view;
    image::PolicyImage::check(bytes, size, false, view);
    return view;
}

// What one candidate file is.
enum class Found { fresh, missing, unusable };

// Tries the image at path for source; on fresh, out is set. Otherwise why holds the
// reason (for unusable).
Found try_image(const char* path, const char* source, const struct stat& source_stat, image::PolicyImage& out,
                char* why, std::size_t why_size) noexcept {
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) return Found::missing;
        std::snprintf(why, why_size, "cannot be opened: %s", strerrordesc_np(errno) ? strerrordesc_np(errno) : "error");
        return Found::unusable;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        std::snprintf(why, why_size, "is not a regular file");
        return Found::unusable;
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    void* mapped = size == 0 ? MAP_FAILED : mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (mapped == MAP_FAILED) {
        std::snprintf(why, why_size, "%s", image::describe(image::Problem::not_an_image));
        return Found::unusable;
    }
    image::PolicyImage view;
    const image::Problem problem = image::PolicyImage::check(mapped, size, size <= kVerifiedImageBytes, view);
    const char* stale = nullptr;
    if (problem == image::Problem::none) {
        const bg_image_source& stored = view.header().source;
        if (std::strcmp(view.source_path(), source) != 0)
            stale = "is the image of another file";
        else if (!image::same_source(stored, image::source_stat_of(source_stat)))
            stale = "is stale: the policy file changed after it was compiled";
        if (stale == nullptr) {
            out = view;
            return Found::fresh;
        }
    }
    munmap(mapped, size);
    std::snprintf(why, why_size, "%s", stale != nullptr ? stale : image::describe(problem));
    return Found::unusable;
}

}  // namespace

image::PolicyImage builtin_image() noexcept { return make_embedded(kBuiltinImage, sizeof kBuiltinImage); }

image::PolicyImage fail_closed_image() noexcept { return make_embedded(kFailClosedImage, sizeof kFailClosedImage); }

bool map_policy_image(const char* source, const char* user_cache, image::PolicyImage& out, char* message,
                      std::size_t message_size) noexcept {
    struct stat source_stat {};
    if (stat(source, &source_stat) != 0) {
        std::snprintf(message, message_size, "%s:1:1: error: cannot read policy: %s; every non-loopback bind is denied",
                      source, strerrordesc_np(errno) ? strerrordesc_np(errno) : "error");
        return false;
    }
    const std::size_t length = std::strlen(source);
    char key[image::kCacheKeySize];
    image::cache_key(source, length, key);
    char beside[4096 + sizeof BG_IMAGE_SUFFIX], system_cache[sizeof BG_IMAGE_SYSTEM_CACHE + image::kCacheKeySize + 1],
        user[4096 + image::kCacheKeySize + 1];
    const bool beside_fits =
        std::snprintf(beside, sizeof beside, "%s%s", source, BG_IMAGE_SUFFIX) < static_cast<int>(sizeof beside);
    std::snprintf(system_cache, sizeof system_cache, "%s/%s", BG_IMAGE_SYSTEM_CACHE, key);
    const bool user_fits = user_cache != nullptr && user_cache[0] == '/' &&
                           std::snprintf(user, sizeof user, "%s/%s", user_cache, key) < static_cast<int>(sizeof user);
    const char* candidates[] = {beside_fits ? beside : nullptr, system_cache, user_fits ? user : nullptr};

    char why[256] = "";
    const char* first_unusable = nullptr;
    char first_why[256] = "";
    for (const char* candidate : candidates) {
        if (candidate == nullptr) continue;
        const Found found = try_image(candidate, source, source_stat, out, why, sizeof why);
        if (found == Found::fresh) return true;
        if (found == Found::unusable && first_unusable == nullptr) {
            first_unusable = candidate;
            std::memcpy(first_why, why, sizeof why);
        }
    }
    if (first_unusable != nullptr)
        std::snprintf(message, message_size,
                      "%s:1:1: error: the compiled image %s %s; run `bindguard compile %s`; every non-loopback bind "
                      "is denied",
                      source, first_unusable, first_why, source);
    else
        std::snprintf(message, message_size,
                      "%s:1:1: error: the policy is not compiled (no %s); run `bindguard compile %s`; every "
                      "non-loopback bind is denied",
                      source, beside_fits ? beside : system_cache, source);
    return false;
}

}  // namespace bindguard::shim
