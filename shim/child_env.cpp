#include "child_env.hpp"

#include <dlfcn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "launch.hpp"
#include "state.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define BINDGUARD_CHILD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BINDGUARD_CHILD_SANITIZER 1
#endif
#endif

#ifdef BINDGUARD_CHILD_SANITIZER
// Defined by the sanitizer runtime; its address names the runtime's file.
extern "C" void __asan_init() __attribute__((weak));
#endif

namespace bindguard::shim {
namespace {

constexpr char kPreloadName[] = "LD_PRELOAD=";
constexpr std::size_t kPreloadNameLength = sizeof kPreloadName - 1;

// A library the child must preload, and the names it may already be listed under.
struct RequiredLibrary {
    const char* path = nullptr;         // what is prepended: absolute
    const char* loaded_name = nullptr;  // the name the loader gave it in this process
    const char* base_name = nullptr;    // last component of path
    dev_t device = 0;                   // identity of the file, for entries spelled differently
    ino_t inode = 0;
    bool have_identity = false;
};

constexpr std::size_t kMaxRequired = 2;  // the sanitizer runtime, our library

// Everything captured at load time. Written once by capture_child_settings()
// before `captured` is set (release), never changed afterwards. Whether the
// policy wants its children protected ([children] inherit) is asked of
// policy_children_inherit() (state.hpp) only when an environment lacks something.
struct ChildSettings {
    RequiredLibrary required[kMaxRequired];
    std::size_t required_count = 0;
    const char* policy_entry = nullptr;             // "BINDGUARD_POLICY=...", or nullptr (launch.hpp)
    const char* service_entry = nullptr;            // "BINDGUARD_SERVICE=...", or nullptr
    const char* sanitizer_options_entry = nullptr;  // "ASAN_OPTIONS=..." (sanitizer builds), or nullptr
};

ChildSettings settings;
std::atomic<bool> captured{false};
std::atomic<bool> capture_started{false};

NextExecFunctions next_functions;
std::atomic<bool> next_resolved{false};

const char* last_component(const char* path) noexcept {
    const char* slash = std::strrchr(path, '/');
    return slash != nullptr ? slash + 1 : path;
}

// realpath(name) kept in launch.hpp's arena, or nullptr. Not inlined: its
// PATH_MAX buffer stays off the stack of the usual (absolute) case, which runs
// in every process at load.
__attribute__((noinline)) const char* keep_real_path(const char* name) noexcept {
    char resolved[PATH_MAX];
    return realpath(name, resolved) != nullptr ? keep_joined({resolved}) : nullptr;
}

// The library that contains address, as out; false if unknown. Its names are
// kept in launch.hpp's arena; realpath(3) only for a relative name.
BINDGUARD_LOAD_TIME bool library_of(const void* address, RequiredLibrary& out) noexcept {
    Dl_info info{};
    if (dladdr(address, &info) == 0 || info.dli_fname == nullptr || info.dli_fname[0] == '\0') return false;
    out.loaded_name = keep_joined({info.dli_fname});
    out.path = info.dli_fname[0] == '/' ? out.loaded_name : keep_real_path(info.dli_fname);
    if (out.path == nullptr || out.loaded_name == nullptr) return false;
    // LD_PRELOAD entries are separated by ':' and ' '; a path with either cannot be listed.
    if (std::strpbrk(out.path, ": ") != nullptr) return false;
    out.base_name = last_component(out.path);
    struct stat status {};
    if (stat(out.path, &status) == 0) {
        out.device = status.st_dev;
        out.inode = status.st_ino;
        out.have_identity = true;
    }
    return true;
}

template <class Function>
void resolve_next(Function& slot, const char* name) noexcept {
    if (slot == nullptr) slot = reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
}

BINDGUARD_LOAD_TIME void resolve_next_functions() noexcept {
    if (next_resolved.load(std::memory_order_acquire)) return;
    resolve_next(next_functions.execve, "execve");
    resolve_next(next_functions.execvpe, "execvpe");
    resolve_next(next_functions.fexecve, "fexecve");
    resolve_next(next_functions.execveat, "execveat");
    resolve_next(next_functions.posix_spawn, "posix_spawn");
    resolve_next(next_functions.posix_spawnp, "posix_spawnp");
    next_resolved.store(true, std::memory_order_release);
}

bool starts_with(const char* text, const char* prefix, std::size_t prefix_length) noexcept {
    return std::strncmp(text, prefix, prefix_length) == 0;
}

// True when the entry (a piece of an LD_PRELOAD value, not NUL-terminated) names library.
bool names_library(const char* entry, std::size_t length, const RequiredLibrary& library) noexcept {
    const auto equals = [&](const char* name) {
        return name != nullptr && std::strlen(name) == length && std::memcmp(entry, name, length) == 0;
    };
    if (equals(library.path) || equals(library.loaded_name)) return true;
    // Another spelling of the same file (a symlink, a relative path): compare
    // the file itself, but only for an entry with the same last component.
    if (!library.have_identity || length == 0 || length >= PATH_MAX) return false;
    const std::size_t base_length = std::strlen(library.base_name);
    if (length < base_length || std::memcmp(entry + length - base_length, library.base_name, base_length) != 0)
        return false;
    if (length > base_length && entry[length - base_length - 1] != '/') return false;
    char path[PATH_MAX];
    std::memcpy(path, entry, length);
    path[length] = '\0';
    struct stat status {};
    return stat(path, &status) == 0 && status.st_dev == library.device && status.st_ino == library.inode;
}

// Bit i set: settings.required[i] is not listed in value (nullptr: no LD_PRELOAD).
unsigned missing_libraries(const char* value) noexcept {
    unsigned missing = 0;
    for (std::size_t i = 0; i < settings.required_count; ++i) {
        bool found = false;
        for (const char* cursor = value; cursor != nullptr && *cursor != '\0' && !found;) {
            const std::size_t length = std::strcspn(cursor, ": ");
            found = length > 0 && names_library(cursor, length, settings.required[i]);
            cursor += length;
            if (*cursor != '\0') ++cursor;
        }
        if (!found) missing |= 1u << i;
    }
    return missing;
}

char* append(char* out, const char* text) noexcept {
    const std::size_t length = std::strlen(text);
    std::memcpy(out, text, length);
    return out + length;
}

}  // namespace

BINDGUARD_LOAD_TIME void capture_child_settings() noexcept {
    if (capture_started.exchange(true, std::memory_order_acq_rel)) return;
    resolve_next_functions();
#ifdef BINDGUARD_CHILD_SANITIZER
    if (&__asan_init != nullptr) {
        RequiredLibrary& runtime = settings.required[settings.required_count];
        // Only a separate runtime library has to be preloaded for the child.
        if (library_of(reinterpret_cast<const void*>(&__asan_init), runtime) &&
            std::strncmp(runtime.base_name, "libasan", 7) == 0)
            ++settings.required_count;
    }
#endif
    settings.required[settings.required_count] = RequiredLibrary{};  // a slot the runtime's lookup may have filled
    if (!library_of(reinterpret_cast<const void*>(&capture_child_settings), settings.required[settings.required_count]))
        return;
    ++settings.required_count;
    const LaunchFacts& launch = launch_facts();
    settings.policy_entry = launch.policy_entry;
    settings.service_entry = launch.service_entry;
    settings.sanitizer_options_entry = launch.sanitizer_options_entry;
    captured.store(true, std::memory_order_release);
}

const NextExecFunctions& next_exec_functions() noexcept {
    resolve_next_functions();
    return next_functions;
}

ChildEnvironmentPlan plan_child_environment(char* const* envp) noexcept {
    ChildEnvironmentPlan plan;
    if (!captured.load(std::memory_order_acquire)) return plan;
    const int saved_errno = errno;
    bool has_policy = false, has_service = false, has_sanitizer_options = false;
    std::size_t preload_entries = 0;
    for (char* const* entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
        ++plan.caller_entries;
        const char* text = *entry;
        // The names looked for start with 'L', 'B' or 'A': most entries end here.
        if (text[0] != 'L' && text[0] != 'B' && text[0] != 'A') continue;
        if (starts_with(text, kPreloadName, kPreloadNameLength)) {
            ++preload_entries;
            plan.loader_preload = text + kPreloadNameLength;
        } else if (starts_with(text, kPolicyName, sizeof kPolicyName - 1)) {
            has_policy = true;
        } else if (starts_with(text, kServiceName, sizeof kServiceName - 1)) {
            has_service = true;
        } else if (starts_with(text, kSanitizerOptionsName, sizeof kSanitizerOptionsName - 1)) {
            has_sanitizer_options = true;
        }
    }
    plan.missing_libraries = missing_libraries(plan.loader_preload);
    plan.add_policy = settings.policy_entry != nullptr && !has_policy;
    plan.add_service = settings.service_entry != nullptr && !has_service;
    plan.add_sanitizer_options = settings.sanitizer_options_entry != nullptr && !has_sanitizer_options;
    plan.rebuild = plan.missing_libraries != 0 || plan.add_policy || plan.add_service || plan.add_sanitizer_options;
    if (plan.rebuild && !policy_children_inherit()) plan = ChildEnvironmentPlan{};
    errno = saved_errno;
    if (!plan.rebuild) return plan;

    // "LD_PRELOAD=" + missing libraries joined by ':' + (":" + kept value).
    std::size_t size = kPreloadNameLength + 1;
    bool first = true;
    for (std::size_t i = 0; i < settings.required_count; ++i) {
        if ((plan.missing_libraries & (1u << i)) == 0) continue;
        size += std::strlen(settings.required[i].path) + (first ? 0 : 1);
        first = false;
    }
    if (plan.loader_preload != nullptr && plan.loader_preload[0] != '\0')
        size += std::strlen(plan.loader_preload) + (first ? 0 : 1);
    plan.preload_entry_size = size;
    const std::size_t entries = plan.caller_entries - preload_entries + 1 + (plan.add_policy ? 1 : 0) +
                                (plan.add_service ? 1 : 0) + (plan.add_sanitizer_options ? 1 : 0);
    plan.bytes = (entries + 1) * sizeof(char*) + plan.preload_entry_size;
    return plan;
}

char* const* build_child_environment(const ChildEnvironmentPlan& plan, char* const* envp, void* scratch) noexcept {
    // The layout of plan.bytes: the pointer array first, then the LD_PRELOAD text.
    auto** environment = static_cast<char**>(scratch);
    char* text = static_cast<char*>(scratch) + plan.bytes - plan.preload_entry_size;

    char* out = append(text, kPreloadName);
    bool first = true;
    for (std::size_t i = 0; i < settings.required_count; ++i) {
        if ((plan.missing_libraries & (1u << i)) == 0) continue;
        if (!first) *out++ = ':';
        out = append(out, settings.required[i].path);
        first = false;
    }
    if (plan.loader_preload != nullptr && plan.loader_preload[0] != '\0') {
        if (!first) *out++ = ':';
        out = append(out, plan.loader_preload);
    }
    *out = '\0';

    std::size_t count = 0;
    environment[count++] = text;
    if (plan.add_policy) environment[count++] = const_cast<char*>(settings.policy_entry);
    if (plan.add_service) environment[count++] = const_cast<char*>(settings.service_entry);
    if (plan.add_sanitizer_options) environment[count++] = const_cast<char*>(settings.sanitizer_options_entry);
    for (char* const* entry = envp; entry != nullptr && *entry != nullptr; ++entry)
        if (!starts_with(*entry, kPreloadName, kPreloadNameLength)) environment[count++] = *entry;
    environment[count] = nullptr;
    return environment;
}

void* map_scratch(std::size_t size) noexcept {
    const int saved_errno = errno;
    void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved_errno;
    return memory == MAP_FAILED ? nullptr : memory;
}

void unmap_scratch(void* memory, std::size_t size) noexcept {
    const int saved_errno = errno;
    munmap(memory, size);
    errno = saved_errno;
}


}  // namespace bindguard::shim
