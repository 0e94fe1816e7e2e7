// decide(), describe() and the endpoint helpers allocate nothing: the shim calls them
// inside bind(), with or without a compiled rule index. This file replaces the global operator new of the test program with
// one that counts, so an allocation on that path fails the test.
#include <atomic>
#include <cstdlib>
#include <new>

#include "rule_index.hpp"
#include "test_util.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
// The nothrow forms too (std::stable_sort uses them), so that every form of new matches
// this file's deletes; aligned forms are not used by the code under test.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return operator new(size, tag); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace bindguard;
using namespace bgunit;

namespace {

static_assert(noexcept(decide(std::declval<const Policy&>(), std::declval<const Request&>())));
static_assert(noexcept(describe(std::declval<const Request&>(), std::declval<const Decision&>(), false, nullptr, 0)));

TEST(NoAllocation, DecideAndDescribe) {
    const auto p = policy(R"(version = 1
[[rule]]
name = "caddy"
action = "allow"
program = "/usr/bin/caddy"
command = "*caddy run*"
service = "proxy"
address = ["0.0.0.0/0", "::/0"]
port = [80, 443]
[[rule]]
name = "dns"
action = "deny"
address = "10.0.0.0/8"
port = "53"
protocol = "udp"
)");
    std::vector<Request> requests;
    for (const char* address : {"0.0.0.0:80", "[::]:443", "10.1.1.1:53", "[::ffff:10.0.0.1]:53", "127.0.0.1:80",
                                "[::1]:1", "0.0.0.0:0", "[2001:db8::1]:8080"})
        for (auto protocol : {Protocol::tcp, Protocol::udp}) {
            auto r = request(address, protocol);
            r.program = "/usr/bin/caddy";
            r.command = "/usr/bin/caddy run --config /etc/caddy/Caddyfile";
            r.service = "proxy";
            requests.push_back(r);
        }
    // The same rules through the compiled index (a parsed policy this small is scanned).
    Policy indexed = p;
    detail::index_rules(indexed, 1);
    ASSERT_NE(indexed.index, nullptr);
    char buf[256];
    int rewrites = 0;
    const long before = g_allocations.load();
    for (const auto& r : requests) {
        const auto d = decide(p, r);
        rewrites += decide(indexed, r).action == Action::rewrite;
        describe(r, d, p.mode == Mode::audit, buf, sizeof buf);
        rewrites += d.action == Action::rewrite;
        rewrites += is_loopback(d.address) && is_wildcard(d.address);  // stays 0; exercises both
        format_endpoint(loopback_for(p, r.address, true), buf, sizeof buf);
    }
    EXPECT_EQ(g_allocations.load() - before, 0);
    EXPECT_GT(rewrites, 0);
    // The counter does count: a parse allocates.
    policy("version = 1\n");
    EXPECT_GT(g_allocations.load() - before, 0);
}

}  // namespace
