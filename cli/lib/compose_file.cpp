// Reading a Compose file with yaml-cpp: services, their ports and network_mode.
#include "compose_file.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include <yaml-cpp/yaml.h>

namespace bindguard::cli::compose {
namespace {

// Merge keys may nest ("<<" inside a merged mapping) and an alias may even refer to a
// mapping that contains it; deeper than this is an error, not a hang.
constexpr int kMaxMergeDepth = 32;

using Entries = std::vector<std::pair<YAML::Node, YAML::Node>>;

class Reader {
public:
    explicit Reader(ComposeFile& file) : file_(file) {}

    // Reads the document's services. Returns nothing; fills file_.
    void read(const YAML::Node& root) {
        if (!root.IsDefined() || root.IsNull()) return error(root, "the file is empty: a Compose file is a mapping with \"services\"");
        if (!root.IsMap()) return error(root, "not a Compose file: the document is not a mapping");
        if (std::optional<YAML::Node> include = lookup(root, "include"))
            warning(*include, "the files under \"include\" are not checked here: name them to compose-check too");
        std::optional<YAML::Node> services = lookup(root, "services");
        if (!services || services->IsNull()) return;
        if (!services->IsMap()) return error(*services, "\"services\" must be a mapping of service names");
        for (const auto& [key, service] : entries(*services)) {
            if (!key.IsScalar()) {
                error(key, "a service name must be a string");
                continue;
            }
            file_.services.push_back(key.Scalar());
            read_service(key.Scalar(), service);
        }
        for (const std::string& name : file_.services) inherit(name);
    }

    // Records an error at node's position (the start of the file when it has none).
    // Returns nothing.
    void error(const YAML::Node& node, std::string message) {
        file_.errors.push_back({position(node), std::move(message)});
    }

    // Records a warning (the file is usable, but something in it is not checked). Returns nothing.
    void warning(const YAML::Node& node, std::string message) {
        file_.warnings.push_back({position(node), std::move(message)});
    }

private:
    ComposeFile& file_;

    // What one service declares itself, before `extends` adds its base's.
    struct Declared {
        std::vector<PortEntry> ports;
        std::optional<HostNetwork> host_network;
        bool has_network_mode = false;
        std::string extends;  // the base service in this file; "" when none
        YAML::Node extends_node;
    };
    std::map<std::string, Declared> declared_;

    // The ports and network_mode a service gets from its `extends` chain: Compose appends the
    // base's ports to the service's own, and a network_mode of its own wins. Adds them to
    // file_ under the service's name, at the base's positions. Returns nothing.
    void inherit(const std::string& name) {
        std::vector<std::string> chain = {name};
        std::optional<HostNetwork> host_network = declared_[name].host_network;
        bool has_network_mode = declared_[name].has_network_mode;
        for (std::string base = declared_[name].extends; !base.empty(); base = declared_[base].extends) {
            if (std::find(chain.begin(), chain.end(), base) != chain.end()) {
                // Each service of the loop reports it at its own `extends`; one further down
                // the chain only stops there.
                if (base == name) {
                    std::string loop;
                    for (const std::string& link : chain) loop += link + " -> ";
                    error(declared_[name].extends_node, "\"extends\" loops: " + loop + name);
                }
                return;
            }
            if (!declared_.contains(base)) {
                error(declared_[chain.back()].extends_node, "service \"" + chain.back() + "\" extends \"" + base + "\", which is not a service of this file");
                return;
            }
            chain.push_back(base);
            for (PortEntry entry : declared_[base].ports) {
                entry.service = name;
                file_.ports.push_back(std::move(entry));
            }
            if (!has_network_mode) {
                host_network = declared_[base].host_network;
                has_network_mode = declared_[base].has_network_mode;
                if (host_network) host_network->service = name;
            }
        }
        if (host_network && !declared_[name].host_network) file_.host_networks.push_back(*host_network);
    }

    Position position(const YAML::Node& node) const {
        YAML::Mark mark = node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
        if (mark.is_null()) return {file_.name, 1, 1};
        return {file_.name, static_cast<unsigned>(mark.line) + 1, static_cast<unsigned>(mark.column) + 1};
    }

    // A plain "<<" key (a quoted "<<" is an ordinary key, as in YAML 1.1's merge type).
    static bool is_merge_key(const YAML::Node& key) {
        return key.IsScalar() && key.Scalar() == "<<" && (key.Tag() == "?" || key.Tag() == "tag:yaml.org,2002:merge");
    }

    // The entries of a mapping with its merge keys resolved: its own keys in file order,
    // then each merged mapping's keys that are not already there (earlier sources win).
    // A repeated key is an error (Compose refuses it too). Returns the entries.
    Entries entries(const YAML::Node& map, int depth = 0) {
        Entries own, merged;
        if (depth > kMaxMergeDepth) {
            error(map, "merge keys (\"<<\") nested deeper than " + std::to_string(kMaxMergeDepth) + " levels");
            return own;
        }
        auto contains = [](const Entries& list, const YAML::Node& key) {
            return key.IsScalar() && std::any_of(list.begin(), list.end(), [&](const auto& entry) {
                       return entry.first.IsScalar() && entry.first.Scalar() == key.Scalar();
                   });
        };
        std::vector<YAML::Node> sources;
        for (auto it = map.begin(); it != map.end(); ++it) {
            // Copies: it-> returns a temporary, so a reference into it would dangle.
            YAML::Node key = it->first;
            YAML::Node value = it->second;
            if (is_merge_key(key)) {
                if (value.IsMap()) sources.push_back(value);
                else if (value.IsSequence())
                    for (const YAML::Node& source : value) sources.push_back(source);
                else error(value, "a merge key (\"<<\") needs a mapping or a list of mappings");
                continue;
            }
            if (contains(own, key)) {
                error(key, "the key \"" + key.Scalar() + "\" appears twice in this mapping");
                continue;
            }
            own.emplace_back(key, value);
        }
        for (const YAML::Node& source : sources) {
            if (!source.IsMap()) {
                error(source, "a merge key (\"<<\") needs a mapping or a list of mappings");
                continue;
            }
            for (auto& entry : entries(source, depth + 1))
                if (!contains(own, entry.first) && !contains(merged, entry.first)) merged.push_back(entry);
        }
        own.insert(own.end(), merged.begin(), merged.end());
        return own;
    }

    // The value of key in map (merge keys resolved). Returns it, or nullopt when absent.
    std::optional<YAML::Node> lookup(const YAML::Node& map, std::string_view key) {
        for (const auto& [name, value] : entries(map))
            if (name.IsScalar() && name.Scalar() == key) return value;
        return std::nullopt;
    }

    // A scalar field: nullopt when absent or null; "" and an error when not a scalar.
    std::optional<std::string> scalar_field(const Entries& fields, std::string_view key, const std::string& what) {
        for (const auto& [name, value] : fields) {
            if (!name.IsScalar() || name.Scalar() != key) continue;
            if (value.IsNull()) return std::nullopt;
            if (!value.IsScalar()) {
                error(value, what + ": \"" + std::string(key) + "\" must be a string or a number");
                return std::nullopt;
            }
            return value.Scalar();
        }
        return std::nullopt;
    }

    void read_service(const std::string& name, const YAML::Node& service) {
        declared_[name];
        if (service.IsNull()) return;
        if (!service.IsMap()) return error(service, "service \"" + name + "\" must be a mapping");
        Entries fields = entries(service);
        std::size_t first_port = file_.ports.size();
        for (const auto& [key, value] : fields) {
            if (!key.IsScalar()) continue;
            if (key.Scalar() == "ports") read_ports(name, value);
            else if (key.Scalar() == "network_mode") read_network_mode(name, value);
            else if (key.Scalar() == "extends") read_extends(name, value);
        }
        Declared& declared = declared_[name];
        declared.ports.assign(file_.ports.begin() + static_cast<std::ptrdiff_t>(first_port), file_.ports.end());
        for (const HostNetwork& host : file_.host_networks)
            if (host.service == name) declared.host_network = host;
    }

    // `extends: base` or `extends: {service: base, file: other.yaml}`. Returns nothing.
    void read_extends(const std::string& service, const YAML::Node& value) {
        if (value.IsScalar()) {
            declared_[service].extends = value.Scalar();
            declared_[service].extends_node = value;
            return;
        }
        if (!value.IsMap()) return error(value, "service \"" + service + "\": \"extends\" must be a service name or a mapping");
        Entries fields = entries(value);
        std::optional<std::string> base = scalar_field(fields, "service", "service \"" + service + "\": extends");
        std::optional<std::string> other = scalar_field(fields, "file", "service \"" + service + "\": extends");
        if (!base) return error(value, "service \"" + service + "\": \"extends\" needs \"service\"");
        if (other) {
            warning(value, "service \"" + service + "\" extends \"" + *base + "\" of " + *other +
                               ": the ports it inherits from that file are not checked here");
            return;
        }
        declared_[service].extends = *base;
        declared_[service].extends_node = value;
    }

    void read_network_mode(const std::string& service, const YAML::Node& value) {
        if (value.IsNull()) return;
        declared_[service].has_network_mode = true;
        if (!value.IsScalar()) return error(value, "service \"" + service + "\": \"network_mode\" must be a string");
        auto masking = mask_interpolation(value.Scalar());
        if (auto* message = std::get_if<std::string>(&masking)) return error(value, "service \"" + service + "\": network_mode: " + *message);
        bool interpolated = is_interpolated(std::get<MaskedText>(masking));
        if (interpolated || value.Scalar() == "host")
            file_.host_networks.push_back({position(value), service, value.Scalar(), interpolated});
    }

    void read_ports(const std::string& service, const YAML::Node& ports) {
        if (ports.IsNull()) return;
        if (!ports.IsSequence()) return error(ports, "service \"" + service + "\": \"ports\" must be a list");
        for (const YAML::Node& entry : ports) {
            if (entry.IsScalar()) read_short(service, entry);
            else if (entry.IsMap()) read_long(service, entry);
            else error(entry, "service \"" + service + "\": a \"ports\" entry must be a string, a number or a mapping");
        }
    }

    void read_short(const std::string& service, const YAML::Node& entry) {
        auto parsed = parse_short_syntax(entry.Scalar());
        if (auto* message = std::get_if<std::string>(&parsed))
            return error(entry, "service \"" + service + "\": port mapping \"" + entry.Scalar() + "\": " + *message);
        file_.ports.push_back({position(entry), service, false, entry.Scalar(), std::get<PortSpec>(parsed)});
    }

    void read_long(const std::string& service, const YAML::Node& entry) {
        Entries fields = entries(entry);
        std::string what = "service \"" + service + "\"";
        std::optional<std::string> target = scalar_field(fields, "target", what);
        std::optional<std::string> published = scalar_field(fields, "published", what);
        std::optional<std::string> host_ip = scalar_field(fields, "host_ip", what);
        std::optional<std::string> protocol = scalar_field(fields, "protocol", what);
        std::string text;
        for (auto [key, value] : {std::pair{"target", &target}, std::pair{"published", &published},
                                  std::pair{"host_ip", &host_ip}, std::pair{"protocol", &protocol}})
            if (*value) text += std::string(text.empty() ? "{" : ", ") + key + ": " + **value;
        text += text.empty() ? "{}" : "}";
        YAML::Node at = entry;
        for (const auto& [key, value] : fields)
            if (key.IsScalar() && key.Scalar() == "host_ip" && !value.IsNull()) at = value;
        auto parsed = parse_long_syntax(target, published, host_ip, protocol);
        if (auto* message = std::get_if<std::string>(&parsed))
            return error(at, what + ": port mapping " + text + ": " + *message);
        file_.ports.push_back({position(at), service, true, text, std::get<PortSpec>(parsed)});
    }
};

}  // namespace

std::string Position::to_string() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

std::string FileError::to_string(const char* severity) const {
    return position.to_string() + ": " + severity + ": " + message;
}

ComposeFile read_compose(std::string_view text, const std::string& name) {
    ComposeFile file;
    file.name = name;
    Reader reader(file);
    YAML::Node root;
    try {
        root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
        Position at{name, 1, 1};
        if (!e.mark.is_null()) at = {name, static_cast<unsigned>(e.mark.line) + 1, static_cast<unsigned>(e.mark.column) + 1};
        file.errors.push_back({at, "invalid YAML: " + e.msg});
        return file;
    }
    try {
        reader.read(root);
    } catch (const YAML::Exception& e) {  // not expected: every access above checks the node's type
        file.errors.push_back({{name, 1, 1}, std::string("cannot read the YAML: ") + e.what()});
    }
    return file;
}

}  // namespace bindguard::cli::compose
