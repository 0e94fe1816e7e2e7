// The audit's Prometheus output and atomic file writing.
#include "audit_format.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <stdexcept>
#include <tuple>

namespace bindguard::cli {
namespace {

// The length of the valid UTF-8 sequence at text[i], or 0 when none starts there
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    unsigned char lead = byte(i);
    if (lead < 0x80) return 1;
    std::size_t length = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
    if (length == 0 || i + length > text.size()) return 0;
    for (std::size_t k = 1; k < length; ++k)
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
    unsigned char second = byte(i + 1);
    if (lead == 0xE0 && second < 0xA0) return 0;  // overlong
    if (lead == 0xED && second > 0x9F) return 0;  // surrogates
    if (lead == 0xF0 && second < 0x90) return 0;  // overlong
    if (lead == 0xF4 && second > 0x8F) return 0;  // above U+10FFFF
    return length;
}

std::string labels(const AuditSample& sample) {
    return "proto=\"" + escape_label_value(sample.proto) + "\",address=\"" + escape_label_value(sample.address) +
           "\",port=\"" + std::to_string(sample.port) + "\",program=\"" + escape_label_value(sample.program) + "\"";
}

void header(std::string& out, const char* name, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
}

// One line per distinct label set, its value the number of sockets with it.
void per_socket_series(std::string& out, const char* name, const std::vector<AuditSample>& samples, bool (*wanted)(const AuditSample&)) {
    std::map<std::tuple<std::string, std::string, std::uint16_t, std::string>, int> counts;
    for (const AuditSample& sample : samples)
        if (wanted(sample)) ++counts[{sample.proto, sample.address, sample.port, sample.program}];
    for (const auto& [key, count] : counts) {
        AuditSample sample;
        std::tie(sample.proto, sample.address, sample.port, sample.program) = key;
        out += std::string(name) + "{" + labels(sample) + "} " + std::to_string(count) + "\n";
    }
}

}  // namespace

bool parse_audit_format(std::string_view text, AuditFormat& format) {
    if (text == "table") format = AuditFormat::table;
    else if (text == "json") format = AuditFormat::json;
    else if (text == "prometheus") format = AuditFormat::prometheus;
    else return false;
    return true;
}

std::string escape_label_value(std::string_view value) {
    std::string out;
    for (std::size_t i = 0; i < value.size();) {
        std::size_t length = utf8_sequence(value, i);
        if (length == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        char c = value[i];
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out.append(value.substr(i, length));
        i += length;
    }
    return out;
}

std::string prometheus_text(const std::vector<AuditSample>& samples, double timestamp) {
    std::string out;
    char time_text[64];
    std::snprintf(time_text, sizeof time_text, "%.3f", timestamp);
    header(out, "bindguard_audit_timestamp_seconds", "When bindguard audit last ran, in seconds since the epoch.");
    out += std::string("bindguard_audit_timestamp_seconds ") + time_text + "\n";

    header(out, "bindguard_audit_sockets",
           "Listening TCP and bound UDP sockets, by verdict (ok, allowed, exposed, client) and by whether the owner "
           "has the bindguard library loaded (yes, no, unknown).");
    std::map<std::pair<std::string, std::string>, int> counts;
    for (const char* verdict : {"ok", "allowed", "exposed", "client"})
        for (const char* protection : {"yes", "no", "unknown"}) counts[{verdict, protection}] = 0;
    for (const AuditSample& sample : samples) ++counts[{sample.verdict, sample.protection}];
    for (const auto& [key, count] : counts)
        out += "bindguard_audit_sockets{verdict=\"" + escape_label_value(key.first) + "\",protected=\"" +
               escape_label_value(key.second) + "\"} " + std::to_string(count) + "\n";

    header(out, "bindguard_audit_exposed_sockets",
           "Sockets neither on loopback nor allowed by the policy, one series per protocol, address, port and program.");
    per_socket_series(out, "bindguard_audit_exposed_sockets", samples, [](const AuditSample& s) { return s.verdict == "exposed"; });

    header(out, "bindguard_audit_unprotected_sockets",
           "Exposed sockets whose owner does not have the bindguard library loaded, one series per protocol, "
           "address, port and program.");
    per_socket_series(out, "bindguard_audit_unprotected_sockets", samples, [](const AuditSample& s) { return s.unprotected; });
    return out;
}

std::string docker_prometheus_text(const std::vector<DockerSample>& samples) {
    std::string out;
    header(out, "bindguard_audit_docker_publishes",
           "Ports Docker publishes on the host (and --network host containers), by verdict (ok, allowed, exposed, "
           "host-network), judged by the address Docker publishes on.");
    std::map<std::string, int> counts = {{"ok", 0}, {"allowed", 0}, {"exposed", 0}, {"host-network", 0}};
    for (const DockerSample& sample : samples) ++counts[sample.verdict];
    for (const auto& [verdict, count] : counts)
        out += "bindguard_audit_docker_publishes{verdict=\"" + escape_label_value(verdict) + "\"} " + std::to_string(count) + "\n";
    header(out, "bindguard_audit_docker_public_publishes",
           "Ports Docker publishes on an address that is not loopback and the policy does not allow, and --network "
           "host containers, one series per publish with its container, image and Compose project and service.");
    std::map<std::string, int> series;
    for (const DockerSample& sample : samples) {
        if (sample.verdict != "exposed" && sample.verdict != "host-network") continue;
        std::string labels = "proto=\"" + escape_label_value(sample.proto) + "\",address=\"" + escape_label_value(sample.address) +
                             "\",port=\"" + std::to_string(sample.port) + "\",container=\"" + escape_label_value(sample.container) +
                             "\",image=\"" + escape_label_value(sample.image) + "\",compose_project=\"" +
                             escape_label_value(sample.compose_project) + "\",compose_service=\"" +
                             escape_label_value(sample.compose_service) + "\"";
        ++series[labels];
    }
    for (const auto& [labels, count] : series)
        out += "bindguard_audit_docker_public_publishes{" + labels + "} " + std::to_string(count) + "\n";
    return out;
}

double now_seconds() {
    struct timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) / 1e9;
}

bool deliver_report(const std::string& report, const std::string& output) {
    if (output.empty()) {
        std::cout << report << std::flush;
        return true;
    }
    try {
        write_file_atomically(output, report);
        return true;
    } catch (const std::exception& error) {
        std::cerr << "bindguard audit: " << error.what() << '\n';
        return false;
    }
}

void write_file_atomically(const std::string& path, std::string_view text) {
    std::size_t slash = path.rfind('/');
    std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base.empty()) throw std::runtime_error(path + ": not a file name");
    std::string temporary = directory + "/." + base + ".XXXXXX";
    int fd = ::mkostemp(temporary.data(), O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot write " + path + ": cannot create a file in " + directory + ": " + std::strerror(errno));
    auto fail = [&](const std::string& what) {
        int error = errno;
        if (fd >= 0) ::close(fd);
        ::unlink(temporary.c_str());
        throw std::runtime_error("cannot write " + path + ": " + what + ": " + std::strerror(error));
    };
    for (std::size_t done = 0; done < text.size();) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail("write " + temporary);
        done += static_cast<std::size_t>(n);
    }
    mode_t mask = ::umask(0);
    ::umask(mask);
    if (::fchmod(fd, 0666 & ~mask) != 0) fail("chmod " + temporary);
    if (::fsync(fd) != 0) fail("fsync " + temporary);
    int closing = fd;
    fd = -1;
    if (::close(closing) != 0) fail("close " + temporary);
    if (::rename(temporary.c_str(), path.c_str()) != 0) fail("rename " + temporary);
    int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {  // the rename is done; a directory that cannot be synced is not an error
        ::fsync(dir);
        ::close(dir);
    }
}

}  // namespace bindguard::cli
