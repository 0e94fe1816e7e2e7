// How `bindguard audit` hands its result to machines: the Prometheus text exposition
// format (for node_exporter's textfile collector) and writing a file atomically. Knows
// nothing of how a socket is judged: audit.cpp gives it each socket's verdict.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bindguard::cli {

enum class AuditFormat { table, json, prometheus };

// Parses "table", "json" or "prometheus". Returns true and sets format, or false.
bool parse_audit_format(std::string_view text, AuditFormat& format);

// One socket as the metrics see it.
struct AuditSample {
    std::string proto;    // "tcp", "udp"
    std::string address;  // "0.0.0.0", "::"
    std::uint16_t port = 0;
    std::string program;  // the owner's program (resolved path), its name, or "-" when unknown
    std::string verdict;  // ok | allowed | exposed | client
    std::string protection;  // yes | no | unknown: whether the owner is protected (library or kernel twin)
    bool unprotected = false;  // exposed and the owner is protected neither way
};

// The Prometheus text exposition format (version 0.0.4), without sample timestamps (the
// textfile collector refuses them):
//   bindguard_audit_timestamp_seconds                 when the audit ran (Unix time)
//   bindguard_audit_sockets{verdict,protected}        how many sockets, every combination
//   bindguard_audit_exposed_sockets{proto,address,port,program}      one series per exposed socket
//   bindguard_audit_unprotected_sockets{proto,address,port,program}  one per unprotected one
// (sockets with the same labels, such as SO_REUSEPORT workers, are counted in one series).
// Label values are escaped, and bytes that are not UTF-8 become U+FFFD. Returns the text.
std::string prometheus_text(const std::vector<AuditSample>& samples, double timestamp);

// One port Docker publishes on the host, as the metrics see it.
struct DockerSample {
    std::string proto;    // "tcp", "udp", "sctp"; "" for a --network host container
    std::string address;  // as Docker publishes it ("0.0.0.0", "::", "127.0.0.1"); "" for --network host
    std::uint16_t port = 0;
    std::string container, image, compose_project, compose_service;
    std::string verdict;  // ok | allowed | exposed | host-network
};

// The Docker part of the metrics (only when audit could ask Docker):
//   bindguard_audit_docker_publishes{verdict}  how many publishes, by verdict (every verdict)
//   bindguard_audit_docker_public_publishes{proto,address,port,container,image,compose_project,compose_service}
//                                              one series per exposed publish or --network host container
// Returns the text.
std::string docker_prometheus_text(const std::vector<DockerSample>& samples);

// `value` as a Prometheus label value between double quotes: backslash, double quote and
// newline escaped, invalid UTF-8 replaced by U+FFFD. Returns it without the quotes.
std::string escape_label_value(std::string_view value);

// The seconds since the epoch, now (CLOCK_REALTIME). Returns them.
double now_seconds();

// Writes the report to stdout when output is empty, else replaces the file output with it
// (write_file_atomically). Returns false after writing "bindguard audit: ERROR" to stderr.
bool deliver_report(const std::string& report, const std::string& output);

// Replaces path with text atomically: writes a temporary file in the same directory (a
// name starting with '.' and not ending in ".prom", so the textfile collector never reads
// it), fsyncs it, gives it the mode a new file gets (0666 & ~umask), renames it over path,
// and fsyncs the directory. Returns nothing; throws std::runtime_error naming the file and
// the reason (the temporary file is removed).
void write_file_atomically(const std::string& path, std::string_view text);

}  // namespace bindguard::cli
