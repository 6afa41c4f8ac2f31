#include "harness/scenario/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/byte_size.hpp"
#include "core/hashing.hpp"
#include "core/host_paths.hpp"
#include "core/utf8.hpp"
#include "harness/scenario/diagnostics.hpp"
#include "harness/scenario/yaml_tree.hpp"
#include "harness/services/patroni.hpp"

namespace firedrill {
namespace {

using namespace scenario_yaml;

bool matches_name(std::string_view name, bool letter_first) {
  if (name.empty() || name.size() > 63) return false;
  if (letter_first && !(name[0] >= 'a' && name[0] <= 'z')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
}

/// Docker's reference grammar, loosely: lowercase path components (with a registry host and port
/// first), an optional tag and an optional digest. The reference becomes part of Engine API
/// paths, so nothing else (no `?`, `#`, `%`, spaces, `..`) is accepted.
bool is_image_reference(const std::string& image) {
  static const std::regex reference(
      R"(^([a-zA-Z0-9][a-zA-Z0-9.-]*(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
      R"((:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$)");
  return image.size() <= 512 && std::regex_match(image, reference);
}

std::optional<long long> parse_integer(std::string_view text, bool& out_of_range) {
  out_of_range = false;
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  if (i == text.size()) return std::nullopt;
  for (std::size_t k = i; k < text.size(); ++k)
    if (text[k] < '0' || text[k] > '9') return std::nullopt;
  errno = 0;
  const std::string copy(text);
  const long long value = std::strtoll(copy.c_str(), nullptr, 10);
  if (errno == ERANGE) {
    out_of_range = true;
    return std::nullopt;
  }
  return value;
}

const std::vector<std::string> top_level_keys = {"version",  "name",     "description", "runbook", "expect",
                                                 "tags",     "targets",  "services",    "workload", "probes",
                                                 "steps",    "checks"};
const std::vector<std::string> service_keys = {"kind",   "image",    "env",         "command", "port",
                                               "health", "standbys", "sync",        "persistence", "volumes", "disk",
                                               "sentinels", "replicas", "ha", "members"};
// The filesystem lives in host memory, and an initialised Postgres alone takes some 40 MB.
constexpr std::uint64_t minimum_disk_bytes = 16ull << 20;
constexpr std::uint64_t maximum_disk_bytes = 64ull << 30;
const std::vector<std::string> service_kinds = {"postgres", "redis", "app", "container"};
const std::vector<std::string> step_verbs = {"wait", "fault", "action", "await", "manual"};

class ScenarioReader {
 public:
  ScenarioReader(const LoadOptions& options, Scenario& scenario) : options_(options), scenario_(scenario) {}

  void read(const Node& root) {
    if (root.kind != Node::Kind::map)
      fail(root.where, fmt::format("a scenario must be a map of keys (version, name, services, steps, ...), found {}",
                                   describe(root)));
    check_keys(root, top_level_keys, "top-level");
    read_version(root);
    read_name(root);
    if (const Entry* e = find(root, "description")) scenario_.description = scalar(e->value, "description");
    if (const Entry* e = find(root, "runbook")) scenario_.runbook = scalar(e->value, "runbook");
    if (const Entry* e = find(root, "tags")) {
      scenario_.tags = scalar_list(e->value, "tags");
      for (std::size_t i = 0; i < scenario_.tags.size(); ++i)
        if (scenario_.tags[i].empty()) fail(e->value.items[i].where, "a tag may not be empty");
    }
    if (const Entry* e = find(root, "expect")) {
      scenario_.expect = scalar(e->value, "expect");
      if (scenario_.expect != "pass" && scenario_.expect != "fail")
        fail(e->value.where, fmt::format("'expect' must be pass or fail (got '{}')", scenario_.expect));
    }
    if (const Entry* e = find(root, "services")) read_services(e->value);
    if (const Entry* e = find(root, "targets")) read_targets(e->value);
    if (const Entry* e = find(root, "workload")) read_workload(e->value);
    if (const Entry* e = find(root, "probes"))
      read_probes(e->value);
    else
      add_default_probes();
    if (const Entry* e = find(root, "steps")) read_steps(e->value);
    if (const Entry* e = find(root, "checks")) read_checks(e->value);
  }

 private:
  SourceLocation location(Pos where) const { return SourceLocation{scenario_.file, where.line, where.column}; }

  static void check_keys(const Node& map, const std::vector<std::string>& allowed, std::string_view context) {
    for (const auto& entry : map.entries)
      if (std::find(allowed.begin(), allowed.end(), entry.key) == allowed.end())
        fail(entry.key_where,
             fmt::format("unknown {} key '{}'{}", context, entry.key, did_you_mean(entry.key, allowed)));
  }

  static const Node& expect(const Node& node, Node::Kind kind, std::string_view subject) {
    if (node.kind != kind) {
      const char* wanted = kind == Node::Kind::map        ? "a map"
                           : kind == Node::Kind::sequence ? "a list"
                                                          : "a single value";
      fail(node.where, fmt::format("{} must be {}, found {}", subject, wanted, describe(node)));
    }
    return node;
  }

  static std::string scalar(const Node& node, std::string_view subject) {
    return expect(node, Node::Kind::scalar, fmt::format("'{}'", subject)).value;
  }

  /// The required `name` of a list item (a workload, a probe), unique among its kind.
  std::string unique_name(const Node& spec, std::set<std::string>& names, std::string_view kind) {
    const Entry* name = find(spec, "name");
    if (!name) fail(spec.where, fmt::format("each {} needs a 'name'", kind));
    std::string text = non_empty(name->value, "name");
    if (!names.insert(text).second) fail(name->value.where, fmt::format("duplicate {} name '{}'", kind, text));
    return text;
  }

  static std::string non_empty(const Node& node, std::string_view subject) {
    std::string text = scalar(node, subject);
    if (text.empty()) fail(node.where, fmt::format("'{}' must not be empty", subject));
    return text;
  }

  static int integer(const Node& node, std::string_view subject, long long low, long long high) {
    const std::string text = scalar(node, subject);
    bool out_of_range = false;
    const auto value = parse_integer(text, out_of_range);
    if (!value && !out_of_range) fail(node.where, fmt::format("'{}' must be an integer, got '{}'", subject, text));
    if (out_of_range || *value < low || *value > high)
      fail(node.where, fmt::format("'{}' must be from {} to {}, got '{}'", subject, low, high, text));
    return static_cast<int>(*value);
  }

  static bool boolean(const Node& node, std::string_view subject) {
    const std::string text = scalar(node, subject);
    if (text == "true") return true;
    if (text == "false") return false;
    fail(node.where, fmt::format("'{}' must be true or false, got '{}'", subject, text));
  }

  static Duration duration(const Node& node, std::string_view subject) {
    const std::string text = scalar(node, subject);
    try {
      return parse_duration(text);
    } catch (const std::invalid_argument& e) {
      fail(node.where, e.what());
    }
  }

  static std::vector<std::string> scalar_list(const Node& node, std::string_view subject) {
    expect(node, Node::Kind::sequence, fmt::format("'{}'", subject));
    std::vector<std::string> items;
    for (const auto& item : node.items) items.push_back(scalar(item, fmt::format("each item of '{}'", subject)));
    return items;
  }

  std::vector<std::string> service_names() const { return keys_of(kinds_); }

  std::vector<std::string> component_names() const {
    std::vector<std::string> names = service_names();
    names.insert(names.begin(), "overall");
    return names;
  }

  /// The kind of the named service (declared or a postgres standby); fails where `node` is.
  const std::string& existing_service(const Node& node, std::string_view subject) {
    const std::string name = scalar(node, subject);
    const auto found = kinds_.find(name);
    if (found == kinds_.end())
      fail(node.where, fmt::format("unknown service '{}'{}", name, did_you_mean(name, service_names())));
    return found->second;
  }

  std::string existing_component(const Node& node, std::string_view subject) {
    const std::string name = scalar(node, subject);
    if (name != "overall" && !kinds_.count(name))
      fail(node.where, fmt::format("unknown component '{}': expected 'overall' or a service{}", name,
                                   did_you_mean(name, component_names())));
    return name;
  }

  void read_version(const Node& root) {
    const Entry* entry = find(root, "version");
    if (!entry) fail(root.where, "the scenario needs 'version: 1'");
    const std::string text = scalar(entry->value, "version");
    if (text != "1")
      fail(entry->value.where, fmt::format("unsupported version '{}': this firedrill reads version 1", text));
    scenario_.version = 1;
  }

  void read_name(const Node& root) {
    const Entry* entry = find(root, "name");
    if (!entry) fail(root.where, "the scenario needs a 'name'");
    const std::string name = scalar(entry->value, "name");
    if (!matches_name(name, false))
      fail(entry->value.where,
           fmt::format("invalid scenario name '{}': use 1 to 63 lowercase letters, digits and '-'", name));
    scenario_.name = name;
  }

  void read_services(const Node& node) {
    expect(node, Node::Kind::map, "'services'");
    for (const auto& entry : node.entries) scenario_.services.push_back(read_service(entry));
    for (const auto& service : scenario_.services) kinds_[service.name] = service.kind;
    // Every name the engine derives is one service's alone: the runtime starts, stops and removes
    // containers by name (verify-backup's scratch and the network sidecar included), so a second
    // owner of a name would lose its container to the first.
    std::map<std::string, std::string> derived_by;  // derived name -> the service that derives it
    auto claim = [&](const std::string& name, const std::string& what, std::size_t owner, const std::string& kind) {
      const std::string& owner_name = scenario_.services[owner].name;
      if (const Entry* clash = find(node, name))
        fail(clash->key_where, fmt::format("service '{}' has the name the engine gives {} of '{}'", name, what, owner_name));
      if (auto other = derived_by.find(name); other != derived_by.end())
        fail(node.entries[owner].key_where,
             fmt::format("service '{}' would get a part named '{}' ({}), which '{}' already gets", owner_name, name, what,
                         other->second));
      derived_by[name] = owner_name;
      kinds_[name] = kind;
    };
    for (std::size_t i = 0; i < scenario_.services.size(); ++i) {
      const ServiceSpec& service = scenario_.services[i];
      for (int n = 1; n <= service.standbys; ++n)
        claim(derived_service_name(service.name, "standby", n), "a standby", i, service.kind);
      for (const auto& name : patroni_member_names(service)) claim(name, "a member of the Patroni cluster", i, "postgres");
      if (!service.ha.empty()) claim(patroni_etcd_name(service.name), "the etcd of the Patroni cluster", i, "container");
      for (int n = 1; n <= service.replicas; ++n)
        claim(derived_service_name(service.name, "replica", n), "a replica", i, "redis");
      for (int n = 1; n <= service.sentinels; ++n)
        claim(derived_service_name(service.name, "sentinel", n), "a sentinel", i, "sentinel");
    }
    for (const auto& [text, where] : references_) check_references(text, where);
  }

  ServiceSpec read_service(const Entry& entry) {
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

  /// Checks every ${service.field} in an env or command value; ${var.NAME} are already replaced.
  void check_references(const std::string& text, Pos where) {
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

  void read_targets(const Node& node) {
    expect(node, Node::Kind::map, "'targets'");
    for (const auto& entry : node.entries) {
      if (entry.key != "overall" && !kinds_.count(entry.key))
        fail(entry.key_where, fmt::format("unknown component '{}': expected 'overall' or a service{}", entry.key,
                                          did_you_mean(entry.key, component_names())));
      const Node& spec = expect(entry.value, Node::Kind::map, fmt::format("target '{}'", entry.key));
      check_keys(spec, {"rto", "rpo"}, "target");
      Objective objective;
      objective.where = location(entry.key_where);
      if (const Entry* e = find(spec, "rto")) objective.rto = duration(e->value, "rto");
      if (const Entry* e = find(spec, "rpo")) objective.rpo = duration(e->value, "rpo");
      if (!objective.rto && !objective.rpo)
        fail(entry.key_where, fmt::format("target '{}' needs an 'rto' or an 'rpo'", entry.key));
      scenario_.targets[entry.key] = objective;
    }
  }

  void read_workload(const Node& node) {
    expect(node, Node::Kind::sequence, "'workload'");
    std::set<std::string> names;
    for (const auto& item : node.items) {
      const Node& spec = expect(item, Node::Kind::map, "each workload");
      check_keys(spec, {"name", "through", "rate", "concurrency", "timeout"}, "workload");
      WorkloadSpec workload;
      workload.where = location(spec.where);
      workload.name = unique_name(spec, names, "workload");
      const Entry* through = find(spec, "through");
      if (!through)
        fail(spec.where, fmt::format("workload '{}' needs 'through' (an app, postgres or redis service)", workload.name));
      const std::string& kind = existing_service(through->value, "through");
      workload.through = through->value.value;
      if (kind != "app" && kind != "postgres" && kind != "redis")
        fail(through->value.where, fmt::format("workload '{}' goes through '{}', a {} service: expected an app, "
                                               "postgres or redis service",
                                               workload.name, workload.through, kind));
      const Entry* rate = find(spec, "rate");
      if (!rate) fail(spec.where, fmt::format("workload '{}' needs a 'rate' (like 200/s, or max)", workload.name));
      try {
        workload.rate_per_second = parse_rate(scalar(rate->value, "rate"));
      } catch (const std::invalid_argument& e) {
        fail(rate->value.where, e.what());
      }
      if (const Entry* e = find(spec, "concurrency")) workload.concurrency = integer(e->value, "concurrency", 1, 256);
      if (const Entry* e = find(spec, "timeout")) workload.timeout = duration(e->value, "timeout");
      scenario_.workload.push_back(workload);
    }
  }

  void read_probes(const Node& node) {
    expect(node, Node::Kind::sequence, "'probes'");
    std::set<std::string> names;
    const std::vector<std::string> types = {"http", "sql", "redis", "tcp"};
    for (const auto& item : node.items) {
      const Node& spec = expect(item, Node::Kind::map, "each probe");
      check_keys(spec, {"name", "interval", "timeout", "http", "sql", "redis", "tcp"}, "probe");
      ProbeSpec probe;
      probe.where = location(spec.where);
      probe.name = unique_name(spec, names, "probe");
      if (const Entry* e = find(spec, "interval")) {
        probe.interval = duration(e->value, "interval");
        if (probe.interval < std::chrono::milliseconds(1))
          fail(e->value.where, fmt::format("probe interval must be at least 1ms, got '{}'", e->value.value));
      }
      if (const Entry* e = find(spec, "timeout")) probe.timeout = duration(e->value, "timeout");
      const Entry* type = nullptr;
      for (const auto& entry : spec.entries) {
        if (std::find(types.begin(), types.end(), entry.key) == types.end()) continue;
        if (type)
          fail(entry.key_where,
               fmt::format("probe '{}' has both '{}' and '{}': give exactly one", probe.name, type->key, entry.key));
        type = &entry;
      }
      if (!type) fail(spec.where, fmt::format("probe '{}' needs one of http, sql, redis or tcp", probe.name));
      read_probe_type(*type, probe);
      scenario_.probes.push_back(probe);
    }
  }

  void read_probe_type(const Entry& type, ProbeSpec& probe) {
    probe.type = type.key;
    const Node& spec = expect(type.value, Node::Kind::map, fmt::format("'{}'", type.key));
    std::vector<std::string> keys = {"service"};
    if (type.key == "http") keys.push_back("path");
    if (type.key == "sql") keys.push_back("query");
    check_keys(spec, keys, type.key + " probe");
    const Entry* service = find(spec, "service");
    if (!service) fail(type.key_where, fmt::format("{} probe '{}' needs a 'service'", type.key, probe.name));
    const std::string& kind = existing_service(service->value, "service");
    probe.service = service->value.value;
    const std::string wanted = type.key == "sql" ? "postgres" : type.key == "redis" ? "redis" : "";
    if (!wanted.empty() && kind != wanted)
      fail(service->value.where, fmt::format("{} probe '{}' needs a {} service; '{}' is a {} service", type.key,
                                             probe.name, wanted, probe.service, kind));
    if (type.key == "http") {
      const ServiceSpec* declared = scenario_.service(probe.service);
      if (const Entry* path = find(spec, "path")) {
        probe.path = scalar(path->value, "path");
        if (probe.path.empty() || probe.path[0] != '/')
          fail(path->value.where, fmt::format("'path' must start with '/', got '{}'", probe.path));
      } else if (declared && !declared->health.empty()) {
        probe.path = declared->health;
      } else {
        fail(type.key_where, fmt::format("http probe '{}' needs a 'path'", probe.name));
      }
    }
    if (type.key == "sql") {
      const Entry* query = find(spec, "query");
      probe.query = query ? non_empty(query->value, "query") : "SELECT 1";
    }
  }

  void add_default_probes() {
    for (const auto& service : scenario_.services) {
      ProbeSpec probe;
      probe.service = service.name;
      probe.where = service.where;
      if (service.kind == "postgres") {
        probe.name = service.name + "-sql";
        probe.type = "sql";
        probe.query = "SELECT 1";
      } else if (service.kind == "redis") {
        probe.name = service.name + "-ping";
        probe.type = "redis";
      } else if (service.kind == "app" || !service.health.empty()) {
        probe.name = service.name + "-health";
        probe.type = "http";
        probe.path = service.health;
      } else if (service.port) {
        probe.name = service.name + "-tcp";
        probe.type = "tcp";
      } else {
        continue;
      }
      scenario_.probes.push_back(probe);
    }
  }

  ParamValue read_param(const ParamSpec& spec, const Node& node) {
    ParamValue param;
    param.where = location(node.where);
    const std::string subject = fmt::format("parameter '{}'", spec.name);
    if (spec.type == ParamType::string_list || spec.type == ParamType::service_list) {
      expect(node, Node::Kind::sequence, subject);
      param.is_list = true;
      for (const auto& item : node.items) {
        if (spec.type == ParamType::service_list) existing_service(item, spec.name);
        param.items.push_back(expect(item, Node::Kind::scalar, fmt::format("each item of {}", subject)).value);
      }
      return param;
    }
    const std::string text = expect(node, Node::Kind::scalar, subject).value;
    param.text = text;
    switch (spec.type) {
      case ParamType::string: break;
      case ParamType::integer: {
        bool out_of_range = false;
        if (!parse_integer(text, out_of_range)) {
          if (out_of_range) fail(node.where, fmt::format("{} is out of range: '{}'", subject, text));
          fail(node.where, fmt::format("{} must be an integer, got '{}'", subject, text));
        }
        break;
      }
      case ParamType::number: check_number(node, subject, text); break;
      case ParamType::boolean:
        if (text != "true" && text != "false")
          fail(node.where, fmt::format("{} must be true or false, got '{}'", subject, text));
        break;
      case ParamType::duration: param.duration = duration(node, spec.name); break;
      case ParamType::percent: {
        std::string digits = text;
        if (!digits.empty() && digits.back() == '%') digits.pop_back();
        const bool plain = !digits.empty() && digits.find_first_not_of("0123456789.") == std::string::npos &&
                           std::count(digits.begin(), digits.end(), '.') <= 1 && digits.front() != '.' &&
                           digits.back() != '.';
        if (!plain || std::strtod(digits.c_str(), nullptr) > 100)
          fail(node.where, fmt::format("{} must be a percentage from 0 to 100 (like 20%), got '{}'", subject, text));
        param.text = digits;
        break;
      }
      case ParamType::service: existing_service(node, spec.name); break;
      case ParamType::string_list:
      case ParamType::service_list: break;
    }
    return param;
  }

  static void check_number(const Node& node, const std::string& subject, const std::string& text) {
    const bool plain = !text.empty() && text.find_first_not_of("0123456789+-.eE") == std::string::npos;
    char* end = nullptr;
    errno = 0;
    const double value = plain ? std::strtod(text.c_str(), &end) : 0;
    if (!plain || end != text.c_str() + text.size())
      fail(node.where, fmt::format("{} must be a number, got '{}'", subject, text));
    if (errno == ERANGE || !std::isfinite(value) || std::fabs(value) > 1e15)
      fail(node.where, fmt::format("{} is out of range: '{}'", subject, text));
  }

  static const ParamSpec* param_spec(const VerbSpec& verb, std::string_view name) {
    for (const auto& param : verb.params)
      if (param.name == name) return &param;
    return nullptr;
  }

  static void check_required(const VerbSpec& verb, const Params& params, std::string_view what, Pos where) {
    for (const auto& param : verb.params)
      if (param.required && !params.count(param.name))
        fail(where, fmt::format("{} '{}' needs parameter '{}'", what, verb.name, param.name));
  }

  void read_steps(const Node& node) {
    expect(node, Node::Kind::sequence, "'steps'");
    std::set<std::string> names;
    for (const auto& item : node.items) {
      StepSpec step = read_step(expect(item, Node::Kind::map, "each step"));
      if (!names.insert(step.name).second) fail(name_where_, fmt::format("duplicate step name '{}'", step.name));
      scenario_.steps.push_back(step);
    }
  }

  /// `until: { healthy: SERVICE }` or `until: { sql: QUERY, service: POSTGRES }`.
  UntilSpec read_until(const Node& node) {
    expect(node, Node::Kind::map, "'until'");
    check_keys(node, {"healthy", "sql", "service"}, "until");
    UntilSpec until;
    until.where = location(node.where);
    const Entry* healthy = find(node, "healthy");
    const Entry* sql = find(node, "sql");
    if (!healthy == !sql) fail(node.where, "'until' needs exactly one of 'healthy: SERVICE' or 'sql: QUERY'");
    if (healthy) {
      if (const Entry* service = find(node, "service"))
        fail(service->key_where, "'service' goes with 'sql'; 'healthy' names the service itself");
      existing_service(healthy->value, "healthy");
      until.healthy = healthy->value.value;
      const bool probed = std::any_of(scenario_.probes.begin(), scenario_.probes.end(),
                                      [&](const ProbeSpec& probe) { return probe.service == until.healthy; });
      if (!probed)
        fail(healthy->value.where, fmt::format("no probe watches '{}', so its health cannot be told: add a probe of it", until.healthy));
      return until;
    }
    until.sql = non_empty(sql->value, "sql");
    const Entry* service = find(node, "service");
    if (!service) fail(node.where, "'until: { sql: ... }' needs the 'service' (a postgres) it runs on");
    if (existing_service(service->value, "service") != "postgres")
      fail(service->value.where, fmt::format("'until' runs SQL on a postgres service; '{}' is not one", service->value.value));
    until.service = service->value.value;
    return until;
  }

  StepSpec read_step(const Node& spec) {
    StepSpec step;
    step.where = location(spec.where);
    const Entry* name = find(spec, "name");
    if (!name) fail(spec.where, "each step needs a 'name'");
    step.name = non_empty(name->value, "name");
    name_where_ = name->value.where;

    const Entry* verb = nullptr;
    for (const auto& entry : spec.entries) {
      if (std::find(step_verbs.begin(), step_verbs.end(), entry.key) == step_verbs.end()) continue;
      // An action may carry `manual:`, what a person does instead of it in a rehearsal.
      if (entry.key == "manual" && find(spec, "action")) continue;
      if (verb)
        fail(entry.key_where,
             fmt::format("step '{}' has two verbs, '{}' and '{}': give exactly one", step.name, verb->key, entry.key));
      verb = &entry;
    }
    if (!verb) {
      // A misspelt verb is the likeliest cause; name it.
      for (const auto& entry : spec.entries) {
        const std::string hint = did_you_mean(entry.key, step_verbs);
        if (entry.key != "name" && !hint.empty())
          fail(entry.key_where, fmt::format("unknown step key '{}'{}", entry.key, hint));
      }
      fail(spec.where,
           fmt::format("step '{}' has no verb: give one of wait, fault, action, await or manual", step.name));
    }

    const VerbSpec* verb_spec = nullptr;
    const std::string& verb_word = verb->key;
    if (verb_word == "wait") {
      step.verb = StepVerb::wait;
      step.duration = duration(verb->value, "wait");
    } else if (verb_word == "fault" || verb_word == "action") {
      step.verb = verb_word == "fault" ? StepVerb::fault : StepVerb::action;
      const auto& known = verb_word == "fault" ? options_.vocabulary.faults : options_.vocabulary.actions;
      step.what = non_empty(verb->value, verb_word);
      const auto found = known.find(step.what);
      if (found == known.end())
        fail(verb->value.where,
             fmt::format("unknown {} '{}'{}", verb_word, step.what, did_you_mean(step.what, keys_of(known))));
      verb_spec = &found->second;
    } else if (verb_word == "await") {
      step.verb = StepVerb::await;
      step.what = scalar(verb->value, "await");
      if (step.what != "recovered") {
        const std::string hint = did_you_mean(step.what, {"recovered"});
        fail(verb->value.where,
             fmt::format("unknown await condition '{}'{}", step.what, hint.empty() ? ": expected 'recovered'" : hint));
      }
    } else {
      step.verb = StepVerb::manual;
      step.what = non_empty(verb->value, "manual");
    }

    // Keys this step may have; the common keys of other verbs get their own message below.
    std::vector<std::string> allowed = {"name", verb_word, "target"};
    if (step.verb == StepVerb::fault) allowed.insert(allowed.end(), {"incident", "duration"});
    // A destructive statement (a bad migration) is an incident a drill recovers from.
    const bool sql_incident = step.verb == StepVerb::action && step.what == "sql";
    if (sql_incident) allowed.push_back("incident");
    if (step.verb != StepVerb::wait) allowed.push_back("timeout");
    if (step.verb == StepVerb::await) allowed.push_back("stable");
    if (step.verb == StepVerb::manual || step.verb == StepVerb::action) allowed.insert(allowed.end(), {"budget", "until"});
    if (step.verb == StepVerb::action) allowed.push_back("manual");
    if (verb_spec)
      for (const auto& param : verb_spec->params) allowed.push_back(param.name);

    for (const auto& entry : spec.entries) {
      const std::string& key = entry.key;
      if (key == "name" || &entry == verb) continue;
      const bool fault = step.verb == StepVerb::fault;
      if ((key == "incident" || key == "duration") && !fault && !(key == "incident" && sql_incident))
        fail(entry.key_where, fmt::format("'{}' applies only to fault steps", key));
      if (key == "stable" && step.verb != StepVerb::await)
        fail(entry.key_where, "'stable' applies only to await steps");
      if (key == "timeout" && step.verb == StepVerb::wait)
        fail(entry.key_where, "'timeout' does not apply to wait steps");
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        if (verb_spec)
          fail(entry.key_where, fmt::format("unknown parameter '{}' for {} '{}'{}", key, verb_word, step.what,
                                            did_you_mean(key, allowed)));
        fail(entry.key_where,
             fmt::format("unknown key '{}' in a {} step{}", key, verb_word, did_you_mean(key, allowed)));
      }
      if (key == "target") {
        if (step.verb == StepVerb::await) {
          step.target = existing_component(entry.value, key);
        } else {
          existing_service(entry.value, key);
          step.target = entry.value.value;
        }
      } else if (key == "incident") {
        step.incident = boolean(entry.value, key);
        if (step.incident) {
          if (incident_step_)
            fail(entry.key_where, fmt::format("step '{}' is a second incident: the incident (T0) is already step "
                                              "'{}' at line {}",
                                              step.name, incident_step_->name, incident_step_->where.line));
          incident_step_ = step;
        }
      } else if (key == "duration") {
        step.duration = duration(entry.value, key);
      } else if (key == "timeout") {
        step.timeout = duration(entry.value, key);
      } else if (key == "stable") {
        step.stable = duration(entry.value, key);
      } else if (key == "manual") {
        step.manual = non_empty(entry.value, key);
      } else if (key == "budget") {
        step.budget = duration(entry.value, key);
      } else if (key == "until") {
        step.until = read_until(entry.value);
      } else {
        step.params[key] = read_param(*param_spec(*verb_spec, key), entry.value);
        // The one host path a step names: created as root and mounted into containers.
        if (key == "repository")
          if (auto refusal = repository_refusal(step.params[key].text, options_.repository_roots); !refusal.empty())
            fail(entry.value.where, refusal);
      }
    }

    if (verb_spec) {
      if (verb_spec->needs_target && step.target.empty())
        fail(verb->value.where, fmt::format("{} '{}' needs a 'target' (the service it acts on)", verb_word, step.what));
      check_required(*verb_spec, step.params, verb_word, verb->value.where);
      if (verb_spec->check_combination) {
        try {
          verb_spec->check_combination(step);
        } catch (const std::invalid_argument& e) {
          fail(verb->value.where, e.what());
        }
      }
    }
    if (step.verb == StepVerb::action && step.manual.empty() && (step.budget || step.until))
      fail(find(spec, step.budget ? "budget" : "until")->key_where,
           fmt::format("'{}' on an action applies to its rehearsal: give the action a 'manual' text too",
                       step.budget ? "budget" : "until"));
    if (step.verb == StepVerb::await) {
      if (step.target.empty()) step.target = "overall";
      if (!step.stable) step.stable = std::chrono::seconds(1);
      if (!step.timeout) step.timeout = std::chrono::seconds(120);
    }
    return step;
  }

  void read_checks(const Node& node) {
    expect(node, Node::Kind::sequence, "'checks'");
    const std::vector<std::string> words = keys_of(options_.vocabulary.checks);
    for (const auto& item : node.items) {
      const Node& spec = expect(item, Node::Kind::map, "each check");
      const Entry* word = nullptr;
      for (const auto& entry : spec.entries) {
        if (!options_.vocabulary.checks.count(entry.key)) continue;
        if (word)
          fail(entry.key_where,
               fmt::format("a check has two kinds, '{}' and '{}': give exactly one", word->key, entry.key));
        word = &entry;
      }
      if (!word) {
        if (spec.entries.empty()) fail(spec.where, fmt::format("a check needs a kind: one of {}", join(words, " or ")));
        const Entry& first = spec.entries.front();
        const std::string hint = did_you_mean(first.key, words);
        fail(first.key_where, fmt::format("unknown check '{}'{}", first.key,
                                          hint.empty() ? ": expected one of " + join(words, ", ") : hint));
      }
      const VerbSpec& verb = options_.vocabulary.checks.at(word->key);
      CheckSpec check;
      check.kind = word->key;
      check.where = location(spec.where);
      check.subject = existing_component(word->value, word->key);
      for (const auto& entry : spec.entries) {
        if (&entry == word) continue;
        const ParamSpec* param = param_spec(verb, entry.key);
        if (!param) {
          std::vector<std::string> allowed;
          for (const auto& p : verb.params) allowed.push_back(p.name);
          fail(entry.key_where, fmt::format("unknown parameter '{}' for check '{}'{}", entry.key, check.kind,
                                            did_you_mean(entry.key, allowed)));
        }
        check.params[entry.key] = read_param(*param, entry.value);
      }
      check_required(verb, check.params, "check", word->key_where);
      if (check.kind == "rto" || check.kind == "rpo") {
        const auto target = scenario_.targets.find(check.subject);
        const Objective* objective = target == scenario_.targets.end() ? nullptr : &target->second;
        if (!objective || !(check.kind == "rto" ? objective->rto : objective->rpo))
          fail(word->value.where, fmt::format("check '{}: {}' needs an {} objective for '{}' under targets", check.kind,
                                              check.subject, check.kind, check.subject));
        if (!incident_step_)
          fail(word->key_where,
               fmt::format("check '{}' needs an incident step (a fault step with incident: true)", check.kind));
      }
      scenario_.checks.push_back(check);
    }
  }

  const LoadOptions& options_;
  Scenario& scenario_;
  std::map<std::string, std::string> kinds_;  // service name (standbys included) -> kind
  std::vector<std::pair<std::string, Pos>> references_;
  std::optional<StepSpec> incident_step_;
  Pos name_where_;
};

}  // namespace

Scenario parse_scenario(std::string_view text, const std::string& file_name, const LoadOptions& options) {
  Scenario scenario;
  scenario.file = file_name;
  try {
    if (text.size() > max_scenario_bytes)
      throw ScenarioError(
          {ScenarioError::Diagnostic{SourceLocation{file_name, 0, 0},
                                     fmt::format("the scenario is larger than 1 MiB ({} bytes)", text.size()), "", 0}});
    Node root = read_tree(text);
    substitute_vars(root, options.vars);
    scenario.sha256 = sha256_hex(text);
    scenario.vars = options.vars;
    ScenarioReader(options, scenario).read(root);
  } catch (const Failure& failure) {
    throw ScenarioError({make_diagnostic(text, file_name, failure)});
  }
  return scenario;
}

Scenario load_scenario(const std::filesystem::path& file, const LoadOptions& options) {
  const std::string name = file.string();
  auto unreadable = [&](const std::string& why) {
    return ScenarioError({ScenarioError::Diagnostic{SourceLocation{name, 0, 0}, why, "", 0}});
  };
  std::ifstream in(file, std::ios::binary);
  if (!in) throw unreadable(fmt::format("cannot read the scenario: {}", std::strerror(errno)));
  std::string bytes(max_scenario_bytes + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) throw unreadable("cannot read the scenario");
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  if (bytes.size() > max_scenario_bytes) throw unreadable("the scenario is larger than 1 MiB");
  return parse_scenario(bytes, name, options);
}

}  // namespace firedrill
