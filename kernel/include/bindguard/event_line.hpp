// A kernel decision (a bg_event from a cgroup's ring buffer) as the log line the library
// writes for the same decision (bindguard/log_line.hpp), with call=kernel. Nothing here
// needs libbpf, allocates or throws: the relay runs it for every event, and the log fuzz
// targets (fuzz/) run it on hostile events and values.
#pragma once

#include <cstddef>
#include <cstdint>

#include "bindguard/log_line.hpp"
#include "bindguard_abi.h"

namespace bindguard::kernel {

// The request an event says was made (its address in the request's family).
Request request_of_event(const bg_event& event) noexcept;

// The record of an event: call "kernel", request (which must outlive the record), the
// decision with rule as its rule name, audit, errno; a listen rewrite (the kernel
// confines the listener to lo) reads as a confined result.
LogRecord record_of_event(const bg_event& event, const Request& request, const char* rule) noexcept;

// The line of an event in format, from the event's pid; program is the binding
// process's executable, service "" when none. dropped, body_offset and the result as
// format_log_line()'s.
std::size_t format_event_line(const bg_event& event, const char* rule, LogFormat format, Mode mode, const char* program,
                              const char* service, std::uint64_t dropped, char* out, std::size_t capacity,
                              std::size_t& body_offset) noexcept;

// The line that says lost decisions of the cgroup were dropped by its full ring buffer
// and never reached the log: text "bindguard: N kernel decisions not logged (the event
// ring buffer was full) service=S call=kernel", JSON {"ts":...,"service":S,"call":"kernel",
// "lost":N}. body_offset: where the text after "bindguard: " starts (0 for JSON).
std::size_t format_lost_line(std::uint64_t lost, LogFormat format, const char* service, char* out,
                             std::size_t capacity, std::size_t& body_offset) noexcept;

}  // namespace bindguard::kernel
