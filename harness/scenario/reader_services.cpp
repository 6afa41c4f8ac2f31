#include "harness/scenario/reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/byte_size.hpp"
#include "core/host_paths.hpp"
#include "core/utf8.hpp"
#include "harness/services/registry.hpp"

namespace firedrill::scenario_yaml {
namespace {

/// Docker's reference grammar, loosely: lowercase path components (with a registry host and port
/// first), an optional tag and an optional digest. The reference becomes part of Engine API
/// paths, so nothing else (no `?`, `#`, `%`, spaces, `..`) is accepted.
bool is_image_reference(const std::string& image) {
  static const std::regex reference(
      R"(^([a-zA-Z0-9][a-zA-Z0-9.-]*(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
      R"((:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$)");
  return image.size() <= 512 && std::regex_match(image, reference);
}

const std::vector<std::string> service_keys = {"kind",   "image",    "env",         "command", "port",
                                               "health", "standbys", "sync",        "persistence", "volumes", "disk",
                                               "sentinels", "replicas", "ha", "members"};
// The filesystem lives in host memory, and an initialised Postgres alone takes some 40 MB.
constexpr std::uint64_t minimum_disk_bytes = 16ull << 20;
constexpr std::uint64_t maximum_disk_bytes = 64ull << 30;
const std::vector<std::string> service_kinds = {"postgres", "redis", "app", "container"};

}  // namespace

void ScenarioReader::read_services(const Node& node) {
  expect(node, Node::Kind::map, "'services'");
  for (const auto& entry : node.entries) scenario_.services.push_back(read_service(entry));
  for (const auto& service : scenario_.services) kinds_[service.name] = service.kind;
  // Every name the engine derives is one service's alone: the runtime starts, stops and removes
  // containers by name (verify-backup's scratch and the network sidecar included), so a second
  // owner of a name would lose its container to the first.
  std::map<std::string, std::string> derived_by;  // derived name -> the service that derives it
  GeneratedSecrets secrets;
  for (std::size_t i = 0; i < scenario_.services.size(); ++i) {
    const std::string& owner = scenario_.services[i].name;
    for (auto& part : expand_service(scenario_.services[i], secrets)) {
      const std::string name = part.spec.name;
      if (!part.role.empty()) {
        if (const Entry* clash = find(node, name))
          fail(clash->key_where, fmt::format("service '{}' has the name the engine gives {} of '{}'", name, part.role, owner));
        if (auto other = derived_by.find(name); other != derived_by.end())
          fail(node.entries[i].key_where, fmt::format("service '{}' would get a part named '{}' ({}), which '{}' already gets",
                                                      owner, name, part.role, other->second));
        derived_by[name] = owner;
        kinds_[name] = part.spec.kind;
      }
      expanded_services_.push_back(std::move(part.spec));
    }
  }
  generated_secrets_ = secrets.all();
  for (const auto& [text, where] : references_) check_references(text, where);
}

ServiceSpec ScenarioReader::read_service(const Entry& entry) {
  ServiceSpec service;
  service.name = entry.key;
  service.where = location(entry.key_where);
  if (!matches_name(service.name, true))
    fail(entry.key_where, fmt::format("invalid service name '{}': use a lowercase letter, then lowercase letters, "
                                      "digits and '-' (at most 63)",
                                      service.name));
  for (const auto& [suffix, what] : {std::pair{verify_scratch_suffix, "the scratch container verify-backup starts beside"},
                                     std::pair{network_sidecar_suffix, "the network sidecar started beside"}})
    if (service.name.ends_with(suffix))
      fail(entry.key_where, fmt::format("service '{}': names ending in '{}' are firedrill's own ({} '{}')",
                                        service.name, suffix, what,
                                        service.name.substr(0, service.name.size() - suffix.size())));
  const Node& spec = expect(entry.value, Node::Kind::map, fmt::format("service '{}'", service.name));
  check_keys(spec, service_keys, "service");
  const Entry* kind = find(spec, "kind");
  if (!kind)
    fail(entry.key_where,
         fmt::format("service '{}' needs a 'kind' (postgres, redis, app or container)", service.name));
  service.kind = scalar(kind->value, "kind");
  if (std::find(service_kinds.begin(), service_kinds.end(), service.kind) == service_kinds.end()) {
    const std::string hint = did_you_mean(service.kind, service_kinds);
    fail(kind->value.where, fmt::format("unknown kind '{}'{}", service.kind,
                                        hint.empty() ? ": expected postgres, redis, app or container" : hint));
  }
  const bool is_app = service.kind == "app", is_container = service.kind == "container";
  for (const auto& field : spec.entries) {
    const Node& value = field.value;
    const std::string& key = field.key;
    auto only_for = [&](bool allowed, std::string_view kinds) {
      if (!allowed) fail(field.key_where, fmt::format("'{}' applies only to {} services", key, kinds));
    };
    if (key == "image") {
      service.image = non_empty(value, key);
      if (!is_image_reference(service.image))
        fail(value.where, fmt::format("invalid image '{}': expected a reference like firedrill/postgres:15, "
                                      "registry.example:5000/team/app:1.2 or name@sha256:<64 hex digits>",
                                      service.image));
    } else if (key == "env") {
      expect(value, Node::Kind::map, "'env'");
      for (const auto& variable : value.entries) {
        // firedrill passes its own controls to a service through FIREDRILL_* variables (which
        // host directory to mount as the WAL repository, the replication password): a
        // scenario setting one would steer the harness, not the service.
        if (variable.key.starts_with("FIREDRILL_"))
          fail(variable.key_where, fmt::format("env '{}': names starting with FIREDRILL_ are firedrill's own and cannot be set in a scenario",
                                               variable.key));
        const std::string text = scalar(variable.value, fmt::format("env '{}'", variable.key));
        // The role, database, data directory and Redis password are written into configuration
        // files and scripts (pgbackrest.conf, redis.conf lines, a heredoc): a line break there
        // would start a line of its own.
        const bool written_into_files = variable.key == "POSTGRES_USER" || variable.key == "POSTGRES_DB" ||
                                        variable.key == "PGDATA" || variable.key == "REDIS_PASSWORD";
        if (variable.key == "REDIS_PASSWORD" && text.empty())
          fail(variable.value.where, "env 'REDIS_PASSWORD' may not be empty: leave it out and firedrill generates one for the run");
        if (written_into_files && has_control_character(text))
          fail(variable.value.where, fmt::format("env '{}' may not hold a line break or another control character",
                                                 variable.key));
        service.env[variable.key] = text;
        references_.emplace_back(text, variable.value.where);
      }
    } else if (key == "command") {
      if (options_.commands_would_run_as_root)
        fail(field.key_where, "'command' would run on this machine as root (the process runtime runs a service's "
                              "command as firedrill's own user): run firedrill as an ordinary user, or with --runtime docker");
      if (value.kind == Node::Kind::scalar) {
        // A string is a shell command line, as in a Dockerfile's shell form.
        service.command = {"/bin/sh", "-c", non_empty(value, key)};
        references_.emplace_back(value.value, value.where);
      } else {
        service.command = scalar_list(value, key);
        for (const auto& item : value.items) references_.emplace_back(item.value, item.where);
      }
    } else if (key == "port") {
      service.port = integer(value, key, 1, 65535);
    } else if (key == "health") {
      only_for(is_app || is_container, "app and container");
      service.health = scalar(value, key);
      if (service.health.empty() || service.health[0] != '/')
        fail(value.where, fmt::format("'health' must be an HTTP path starting with '/', got '{}'", service.health));
    } else if (key == "standbys") {
      only_for(service.kind == "postgres", "postgres");
      service.standbys = integer(value, key, 0, 5);
    } else if (key == "sync") {
      only_for(service.kind == "postgres", "postgres");
      service.sync = boolean(value, key);
    } else if (key == "ha") {
      only_for(service.kind == "postgres", "postgres");
      service.ha = scalar(value, key);
      if (service.ha != "patroni") fail(value.where, fmt::format("unknown ha '{}': expected patroni", service.ha));
    } else if (key == "members") {
      only_for(service.kind == "postgres", "postgres");
      service.members = integer(value, key, 2, 5);
    } else if (key == "sentinels") {
      only_for(service.kind == "redis", "redis");
      service.sentinels = integer(value, key, 1, 7);
    } else if (key == "replicas") {
      only_for(service.kind == "redis", "redis");
      service.replicas = integer(value, key, 1, 5);
    } else if (key == "persistence") {
      only_for(service.kind == "redis", "redis");
      service.persistence = scalar(value, key);
      const std::vector<std::string> modes = {"none", "rdb", "aof"};
      if (std::find(modes.begin(), modes.end(), service.persistence) == modes.end())
        fail(value.where, fmt::format("unknown persistence '{}': expected none, rdb or aof", service.persistence));
    } else if (key == "volumes") {
      service.volumes = scalar_list(value, key);
      for (std::size_t i = 0; i < service.volumes.size(); ++i) {
        const std::string& volume = service.volumes[i];
        const std::size_t slash = volume.find('/');
        const bool valid = slash == 0 || (slash != std::string::npos && slash >= 2 && volume[slash - 1] == ':' &&
                                          volume.find(':') == slash - 1);
        if (!valid)
          fail(value.items[i].where, fmt::format("invalid volume '{}': expected NAME:/path or /path", volume));
      }
    } else if (key == "disk") {
      only_for(service.kind == "postgres" || service.kind == "redis", "postgres and redis");
      const std::string text = scalar(value, key);
      service.disk = parse_byte_size(text);
      if (!service.disk) fail(value.where, fmt::format("invalid disk size '{}': expected {}", text, byte_size_forms));
      if (*service.disk < minimum_disk_bytes || *service.disk > maximum_disk_bytes)
        fail(value.where, fmt::format("disk size '{}' is out of range: between 16MiB and 64GiB", text));
    }
  }
  if (service.kind == "postgres" && service.image.empty()) service.image = "firedrill/postgres:15";
  if (service.kind == "redis" && service.image.empty()) service.image = "firedrill/redis:7";
  if (service.kind == "redis" && service.persistence.empty()) service.persistence = "rdb";
  if (is_app) {
    if (service.image.empty()) service.image = "firedrill/app:latest";
    if (!service.port) service.port = 8080;
    if (service.health.empty()) service.health = "/health";
  }
  if (service.members > 0 && service.ha.empty())
    fail(find(spec, "members")->key_where,
         fmt::format("'members' needs 'ha: patroni': service '{}' is a single server", service.name));
  if (!service.ha.empty() && service.standbys > 0)
    fail(find(spec, "standbys")->key_where,
         fmt::format("'standbys' and 'ha' exclude each other: the members of '{}' are its standbys", service.name));
  if (!service.ha.empty() && service.members == 0) service.members = 3;
  if (service.sync && service.standbys == 0 && service.ha.empty())
    fail(find(spec, "sync")->key_where,
         fmt::format("'sync' needs standbys: service '{}' has none to replicate to synchronously", service.name));
  if (service.replicas > 0 && service.sentinels == 0)
    fail(find(spec, "replicas")->key_where,
         fmt::format("'replicas' needs sentinels: service '{}' has none to fail over to them", service.name));
  if (service.sentinels > 0 && service.replicas == 0) service.replicas = 1;
  if (is_container && service.image.empty())
    fail(entry.key_where, fmt::format("service '{}' of kind container needs an 'image'", service.name));
  return service;
}

void ScenarioReader::check_references(const std::string& text, Pos where) {
  for (std::size_t at = text.find("${"); at != std::string::npos; at = text.find("${", at + 2)) {
    const std::size_t close = text.find('}', at);
    if (close == std::string::npos) fail(where, fmt::format("unterminated '${{' in '{}'", text));
    const std::string reference = text.substr(at, close + 1 - at);
    const std::string inner = text.substr(at + 2, close - at - 2);
    const std::size_t dot = inner.find('.');
    if (dot == std::string::npos)
      fail(where, fmt::format("invalid reference '{}': expected ${{service.url}}, ${{service.host}}, "
                              "${{service.port}} or ${{var.NAME}}",
                              reference));
    const std::string service = inner.substr(0, dot), field = inner.substr(dot + 1);
    if (!kinds_.count(service))
      fail(where,
           fmt::format("unknown service '{}' in '{}'{}", service, reference, did_you_mean(service, service_names())));
    if (field != "url" && field != "host" && field != "port")
      fail(where, fmt::format("unknown field '{}' in '{}': expected url, host or port", field, reference));
  }
}

}  // namespace firedrill::scenario_yaml
