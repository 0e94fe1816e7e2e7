// The shim's address readers on arbitrary bytes (the caller's memory, exactly
// as long as the length it gives, so AddressSanitizer sees any read beyond it):
// read_bind_address() for sockets of every domain, read_kernel_address(), and the
// SCTP bindx array walker. What is read is an AF_INET/AF_INET6 endpoint that
// write_sockaddr() writes and read_kernel_address() reads back to itself.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "sockaddr.hpp"

using namespace bindguard;
using namespace bindguard::shim;

namespace {

void check_round_trip(const Endpoint& endpoint) {
    if (endpoint.family != AF_INET && endpoint.family != AF_INET6) std::abort();
    sockaddr_storage storage{};
    const socklen_t length = write_sockaddr(endpoint, storage);
    Endpoint again;
    if (!read_kernel_address(storage, length, again) || !(again == endpoint)) std::abort();
}

bool visit(const Endpoint& endpoint, void* context) noexcept {
    check_round_trip(endpoint);
    ++*static_cast<std::size_t*>(context);
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto length = static_cast<socklen_t>(size > 4096 ? 4096 : size);
    const auto* address = reinterpret_cast<const sockaddr*>(data);
    for (int domain : {AF_INET, AF_INET6, AF_UNSPEC, AF_UNIX}) {
        Endpoint endpoint;
        if (read_bind_address(address, length, domain, endpoint)) {
            if (domain != AF_INET && domain != AF_INET6) std::abort();
            if (endpoint.family != domain) std::abort();
            check_round_trip(endpoint);
        }
    }
    sockaddr_storage storage{};
    std::memcpy(&storage, data, size < sizeof storage ? size : sizeof storage);
    Endpoint kernel;
    if (read_kernel_address(storage, length, kernel)) check_round_trip(kernel);
    std::size_t visited = 0;
    if (!for_each_bindx_address(data, length, visit, &visited) && visited != 0) std::abort();
    return 0;
}
