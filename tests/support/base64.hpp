// Base64 (RFC 4648, with padding) of a string: how Docker's AuthZ requests carry a body,
// for the tests and the fuzz target of `docker authz` that write such requests.
#pragma once

#include <string>
#include <string_view>

namespace bgtest {

inline std::string base64(std::string_view text) {
    static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : text) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += digits[(buffer >> bits) & 63];
        }
    }
    if (bits > 0) out += digits[(buffer << (6 - bits)) & 63];
    while (out.size() % 4) out += '=';
    return out;
}

}  // namespace bgtest
