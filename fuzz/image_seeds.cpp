// fuzz_image_seeds DIR: writes fuzz_image's seed images into DIR, compiled by this
// build's compiler, so that the seeds always have the image format the reader reads
// (a committed image would be refused at its format field after any layout change).
// The seeds: the built-in policy; rules with program, command and service filters; a
// group indexed by its table; the same group indexed as segment trees; and one whose
// CIDR prefix does not fit its family (the reader must deny for that rule).
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bindguard/compile.hpp"
#include "bindguard/image_view.hpp"
#include "bindguard/policy.hpp"
#include "rule_index.hpp"

using namespace bindguard;

namespace {

Policy parsed(const std::string& text) {
    auto result = parse_policy(text, "/etc/bindguard/policy.toml");
    if (!result.ok()) {
        std::fprintf(stderr, "fuzz_image_seeds: a seed policy does not parse: %s\n",
                     result.diagnostics.front().to_string().c_str());
        std::exit(2);
    }
    return std::move(*result.policy);
}

// Ten rules over overlapping CIDRs, ports and both families: enough to be indexed.
std::string indexed_text() {
    std::string text = "version = 1\n[default]\naction = \"deny\"\n";
    const char* addresses[] = {"10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "::ffff:10.0.0.0/104", "0.0.0.0/0"};
    for (int i = 0; i < 10; ++i)
        text += "[[rule]]\nname = \"r" + std::to_string(i) + "\"\naction = \"" + (i % 3 == 0 ? "allow" : "rewrite") +
                "\"\naddress = [\"" + addresses[i % 5] + "\"]\nport = [\"" + std::to_string(1000 * i) + "-" +
                std::to_string(1000 * i + 500) + "\"]\n" + (i % 2 ? "protocol = \"udp\"\n" : "") +
                (i == 7 ? "service = \"web\"\n" : "");
    return text;
}

void write(const std::string& path, const std::vector<unsigned char>& bytes) {
    FILE* out = std::fopen(path.c_str(), "wb");
    if (out == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size() || std::fclose(out) != 0) {
        std::fprintf(stderr, "fuzz_image_seeds: cannot write %s\n", path.c_str());
        std::exit(2);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: fuzz_image_seeds DIR\n");
        return 2;
    }
    const std::string dir = argv[1];
    image::SourceIdentity source;
    source.path = "/etc/bindguard/policy.toml";
    write(dir + "/builtin", image::compile(builtin_policy(), source));
    write(dir + "/filters", image::compile(parsed(R"(version = 1
[[rule]]
name = "node"
action = "allow"
program = "/usr/bin/*"
command = "node *"
port = [3000]
[[rule]]
name = "api"
action = "deny"
service = "api"
address = ["0.0.0.0/0", "::/0"]
)"),
                                           source));
    const Policy indexed = parsed(indexed_text());
    write(dir + "/table", image::compile(indexed, source));
    write(dir + "/trees", image::compile(indexed, source, detail::IndexLimits{0, 0, 0}));

    // The table seed with its first CIDR's prefix length out of range, checksum mended.
    std::vector<unsigned char> bad = image::compile(indexed, source);
    bg_image_header header;
    std::memcpy(&header, bad.data(), sizeof header);
    bad[header.sections[BG_SECTION_CIDRS].offset + offsetof(bg_image_cidr, prefix)] = 200;
    header.checksum = image::hash(bad.data() + BG_IMAGE_CHECKSUM_FROM, bad.size() - BG_IMAGE_CHECKSUM_FROM);
    std::memcpy(bad.data(), &header, sizeof header);
    write(dir + "/bad-cidr-prefix", bad);
    return 0;
}
