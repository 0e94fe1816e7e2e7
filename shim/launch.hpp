// What the process started with: the facts the library needs later, captured by
// its constructor before the program's own code runs, so that what the program
// does afterwards (setenv, chdir, a new process title as Next.js and the
// daemons set) changes none of them.
//
// Captured once, without allocation for ordinary sizes (a static arena; a value
// that does not fit is copied with malloc), into storage that never changes
// afterwards and is never freed: the exec wrappers read it between fork()/vfork()
// and exec, bind() reads it when it builds the state.
//
// The constructor (library_loaded() in launch.cpp) also records stderr's
// identity, prepares the state (state.hpp: built now when the process uses a
// policy file, on first use under the built-in policy) and what the exec
// wrappers need (child_env.hpp).
#pragma once

#include <initializer_list>

namespace bindguard::shim {

// The environment entries the library reads at start and hands on to children
// (child_env.cpp), each with its '='.
inline constexpr char kPolicyName[] = "BINDGUARD_POLICY=";
inline constexpr char kServiceName[] = "BINDGUARD_SERVICE=";
inline constexpr char kSanitizerOptionsName[] = "ASAN_OPTIONS=";

struct LaunchFacts {
    // "BINDGUARD_POLICY=/absolute/path" (made absolute against the working
    // directory of that moment), or nullptr when unset or empty. A value that
    // could not be kept is replaced by a path that cannot exist, so that a child
    // fails closed as this process does.
    const char* policy_entry = nullptr;
    // The policy file the process uses: BINDGUARD_POLICY's value, else
    // /etc/bindguard/policy.toml if anything exists at that path then, else
    // nullptr (the built-in policy).
    const char* policy_file = nullptr;
    // "BINDGUARD_SERVICE=name", or nullptr when unset or empty.
    const char* service_entry = nullptr;
    // "ASAN_OPTIONS=..." (sanitizer builds only, for the children), or nullptr.
    const char* sanitizer_options_entry = nullptr;
    // argv joined by single spaces, as /proc/self/cmdline read then; "" if unknown.
    const char* command = "";
    // Some value was set but could not be kept (out of memory, or a relative
    // policy path with no readable working directory): the state then fails closed.
    bool lost = false;

    // The value of service_entry ("" when unset).
    const char* service() const noexcept;
};

// Captures the facts, once. argv is the program's (the constructor's
// arguments), or nullptr when not known (a call that arrives before the
// constructor): the command is then read from /proc/self/cmdline. The
// environment is read with secure_getenv(): in a set-uid/set-gid or
// file-capability program the caller's environment chooses nothing.
// Never allocates unless a value is larger than the arena; never throws.
void capture_launch_facts(int argc, char** argv) noexcept;

// Marks a function that runs when the library is loaded: the linker places
// these next to the constructor, so that the load touches one stretch of the
// library's code instead of several (each first touch is a page fault).
#define BINDGUARD_LOAD_TIME __attribute__((section(".text.startup")))

// The captured facts, capturing them first (without argv) if needed.
const LaunchFacts& launch_facts() noexcept;

// In the child of a fork(): a capture that another thread of the parent was
// making is started over on first use (nobody in the child finishes it).
void restart_capture_in_child() noexcept;

// The parts joined as one string kept for the life of the process (the same
// arena), or nullptr when out of memory. For the load-time captures.
const char* keep_joined(std::initializer_list<const char*> parts) noexcept;

}  // namespace bindguard::shim
