// fuzz_image: the library's reader of compiled policy images. Any bytes are either
// refused by PolicyImage::check() or decided from: never a crash, an out-of-bounds read
// (ASan) or a hang, and every decision is a real action with a rule name, the port of a
// rewrite kept and its target on loopback.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bindguard/image_view.hpp"

using namespace bindguard;

namespace {

[[noreturn]] void broken(const char* what) {
    __builtin_trap();
    static_cast<void>(what);
}

Request request_of(std::uint32_t seed) {
    Request r;
    static const std::uint8_t kAddresses[][16] = {
        {0, 0, 0, 0},     {10, 0, 3, 1},     {127, 0, 0, 1},
        {192, 168, 1, 9}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 3, 1},
        {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7},
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    const std::uint32_t which = seed % 8;
    r.address.family = which < 4 ? AF_INET : AF_INET6;
    std::memcpy(r.address.bytes.data(), kAddresses[which], 16);
    r.address.port = static_cast<std::uint16_t>(seed >> 8);
    r.protocol = static_cast<Protocol>((seed >> 3) % 4 == 2 ? 3 : (seed >> 3) % 4);  // tcp, udp, other
    r.v6only = (seed >> 5) & 1;
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The library maps images page-aligned; give the reader aligned bytes too.
    std::vector<std::uint64_t> storage(size / 8 + 1);
    std::memcpy(storage.data(), data, size);
    for (const bool verify : {true, false}) {
        image::PolicyImage view;
        if (image::PolicyImage::check(storage.data(), size, verify, view) != image::Problem::none) continue;
        std::atomic<std::uint8_t> memo[16] = {};
        for (const char* service : {"", "web", "api", "proxy"}) {
            const image::ProcessPolicy process(view, "/usr/bin/node", "node server.mjs", service,
                                               image::FilterMemo{memo, 16});
            for (std::uint32_t seed : {0u, 0x1f4b3u, 0x50c0u, 0xbb8e7u, 0xffffffffu, 0x1bb00u, 0x1f9005u}) {
                const Request r = request_of(seed ^ static_cast<std::uint32_t>(size));
                const Decision d = process.decide(r);
                if (static_cast<std::uint8_t>(d.action) > static_cast<std::uint8_t>(Action::deny))
                    broken("action out of range");
                if (d.rule == nullptr) broken("no rule name");
                if (std::strlen(d.rule) > size) broken("rule name outside the image");
                if (d.action == Action::rewrite && d.address.port != r.address.port) broken("a rewrite moved the port");
                if (d.action == Action::allow && !(d.address == r.address)) broken("an allow changed the address");
            }
        }
    }
    return 0;
}
