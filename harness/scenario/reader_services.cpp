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
#include <type_traits>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/byte_size.hpp"
#include "core/host_paths.hpp"
#include "core/utf8.hpp"
#include "harness/scenario/diagnostics.hpp"
#include "harness/services/kinds.hpp"
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

// Every service may set these; the others are its kind's (kinds.hpp).
const std::vector<std::string> common_keys = {"kind", "image", "env", "command", "port", "volumes"};

/// The keys a service may set: the common ones, then every kind's, each once.
std::vector<std::string> every_service_key() {
  std::vector<std::string> keys = common_keys;
  for (const auto& kind : service_kinds())
    for (const auto& key : kind.keys)
      if (std::find(keys.begin(), keys.end(), key.name) == keys.end()) keys.push_back(key.name);
  return keys;
}

std::vector<std::string> declarable_kinds() {
  std::vector<std::string> names;
  for (const auto& kind : service_kinds())
    if (kind.declarable) names.push_back(kind.name);
  return names;
}

/// The kinds whose services may set `key`, as "postgres and redis".
std::string kinds_with_key(const std::string& key) {
  std::vector<std::string> names;
  for (const auto& kind : service_kinds())
    for (const auto& spec : kind.keys)
      if (kind.declarable && spec.name == key) names.push_back(kind.name);
  return join(names, " and ");
}

/// 16MiB, 64GiB: a bound of a byte size as a scenario would write it.
std::string binary_size(long long bytes) {
  for (const auto& [unit, shift] : {std::pair{"GiB", 30}, std::pair{"MiB", 20}, std::pair{"KiB", 10}})
    if (bytes > 0 && bytes % (1ll << shift) == 0) return fmt::format("{}{}", bytes >> shift, unit);
  return std::to_string(bytes);
}

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
  // A pool or a load balancer takes its backend's login once every service it may name exists.
  for (auto& service : expanded_services_) {
    const ServiceKind* kind = find_service_kind(service.kind);
    if (kind == nullptr || !kind->attach) continue;
    try {
      kind->attach(service, expanded_services_, secrets);
    } catch (const ServiceKeyError& broken) {
      const Entry* declared = find(node, service.name);
      const Entry* at = declared && !broken.key.empty() ? find(declared->value, broken.key) : nullptr;
      fail(at ? at->value.where : declared ? declared->key_where : node.where, broken.what());
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
  check_keys(spec, every_service_key(), "service");
  const std::vector<std::string> kinds = declarable_kinds();
  const Entry* kind_entry = find(spec, "kind");
  if (!kind_entry)
    fail(entry.key_where, fmt::format("service '{}' needs a 'kind' ({})", service.name, join(kinds, " or ")));
  service.kind = scalar(kind_entry->value, "kind");
  const ServiceKind* kind = find_service_kind(service.kind);
  if (!kind || !kind->declarable) {
    const std::string hint = did_you_mean(service.kind, kinds);
    fail(kind_entry->value.where,
         fmt::format("unknown kind '{}'{}", service.kind, hint.empty() ? ": expected " + join(kinds, " or ") : hint));
  }
  if (options_.runtime && !kind->runtimes.empty() &&
      std::find(kind->runtimes.begin(), kind->runtimes.end(), options_.runtime->name) == kind->runtimes.end())
    fail(kind_entry->value.where, fmt::format("service '{}' of kind {} needs the {} runtime ({}); the {} runtime cannot run it",
                                              service.name, service.kind, join(kind->runtimes, " or "), kind->runtime_note,
                                              options_.runtime->name));
  for (const auto& field : spec.entries) {
    const Node& value = field.value;
    const std::string& key = field.key;
    if (key == "kind") {
      continue;
    } else if (key == "image") {
      service.image = non_empty(value, key);
      if (!is_image_reference(service.image))
        fail(value.where, fmt::format("invalid image '{}': expected a reference like firedrill/postgres:15, "
                                      "registry.example:5000/team/app:1.2 or name@sha256:<64 hex digits>",
                                      service.image));
    } else if (key == "env") {
      read_service_env(value, service);
    } else if (key == "command") {
      if (options_.commands_would_run_as_root)
        fail(field.key_where, "'command' would run on this machine as root (the process runtime runs a service's "
                              "command as firedrill's own user): run firedrill as an ordinary user, or with --runtime docker");
      refuse_secret_references(value);
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
    } else {
      const auto known = std::find_if(kind->keys.begin(), kind->keys.end(),
                                      [&](const ServiceKey& of_kind) { return of_kind.name == key; });
      if (known == kind->keys.end())
        fail(field.key_where, fmt::format("'{}' applies only to {} services", key, kinds_with_key(key)));
      if (key == "ready_command" && options_.commands_would_run_as_root)
        fail(field.key_where, "'ready_command' would run on this machine as root (the process runtime runs a "
                              "service's commands as firedrill's own user): run firedrill as an ordinary user, or "
                              "with --runtime docker");
      read_service_key(*known, value, service);
    }
  }
  if (service.image.empty()) service.image = kind->default_image;
  for (const auto& key : kind->keys)
    if (!key.default_value.empty() && !find(spec, key.name))
      if (const auto* word = std::get_if<std::string ServiceSpec::*>(&key.field)) service.*(*word) = key.default_value;
  if (kind->complete) {
    try {
      kind->complete(service);
    } catch (const ServiceKeyError& broken) {
      const Entry* at = broken.key.empty() ? nullptr : find(spec, broken.key);
      fail(at ? at->key_where : entry.key_where, broken.what());
    }
  }
  return service;
}

void ScenarioReader::read_service_env(const Node& value, ServiceSpec& service) {
  expect(value, Node::Kind::map, "'env'");
  for (const auto& variable : value.entries) {
    // firedrill passes its own controls to a service through FIREDRILL_* variables (which
    // host directory to mount as the WAL repository, the replication password): a
    // scenario setting one would steer the harness, not the service.
    if (variable.key.starts_with("FIREDRILL_"))
      fail(variable.key_where, fmt::format("env '{}': names starting with FIREDRILL_ are firedrill's own and cannot be set in a scenario",
                                           variable.key));
    const std::string subject = fmt::format("env '{}'", variable.key);
    const std::string text = substitute_env(variable.value, scalar(variable.value, subject), subject);
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
}

void ScenarioReader::read_service_key(const ServiceKey& key, const Node& value, ServiceSpec& service) {
  const std::string& name = key.name;
  std::visit(
      [&](auto field) {
        using Type = std::remove_reference_t<decltype(service.*field)>;
        if constexpr (std::is_same_v<Type, int>) {
          service.*field = integer(value, name, key.low, key.high);
        } else if constexpr (std::is_same_v<Type, bool>) {
          service.*field = boolean(value, name);
        } else if constexpr (std::is_same_v<Type, std::string>) {
          const std::string text = scalar(value, name);
          if (!key.choices.empty() && std::find(key.choices.begin(), key.choices.end(), text) == key.choices.end())
            fail(value.where, fmt::format("unknown {} '{}': expected {}", name, text, join(key.choices, " or ")));
          if (key.check) {
            try {
              key.check(text);
            } catch (const std::invalid_argument& refused) {
              fail(value.where, refused.what());
            }
          }
          service.*field = text;
        } else if constexpr (std::is_same_v<Type, std::optional<Duration>>) {
          const Duration length = duration(value, name);
          if (length.count() < key.low || length.count() > key.high)
            fail(value.where, fmt::format("'{}' is out of range: between {}s and {}s", name, key.low / 1'000'000,
                                          key.high / 1'000'000));
          service.*field = length;
        } else {
          const std::string text = scalar(value, name);
          const auto bytes = parse_byte_size(text);
          if (!bytes) fail(value.where, fmt::format("invalid {} size '{}': expected {}", name, text, byte_size_forms));
          if (*bytes < static_cast<std::uint64_t>(key.low) || *bytes > static_cast<std::uint64_t>(key.high))
            fail(value.where, fmt::format("{} size '{}' is out of range: between {} and {}", name, text,
                                          binary_size(key.low), binary_size(key.high)));
          service.*field = bytes;
        }
      },
      key.field);
}

void ScenarioReader::refuse_secret_references(const Node& command) {
  const auto refuse_in = [](const Node& node) {
    for (const char* field : {".password}", ".conninfo}", ".postgres_url}"})
      if (node.value.find(field) != std::string::npos)
        fail(node.where, fmt::format("'command' names a password (a '{}' reference): every user of this machine "
                                     "reads a command line; pass it in 'env:'",
                                     std::string_view(field).substr(1, std::string_view(field).size() - 2)));
  };
  refuse_in(command);
  for (const auto& item : command.items) refuse_in(item);
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
                              "${{service.port}}, ${{service.conninfo}}, ${{var.NAME}} or ${{env.NAME}}",
                              reference));
    const std::string service = inner.substr(0, dot), field = inner.substr(dot + 1);
    if (!kinds_.count(service))
      fail(where,
           fmt::format("unknown service '{}' in '{}'{}", service, reference, did_you_mean(service, service_names())));
    std::vector<std::string> fields = {"url", "host", "port"};
    if (const ServiceKind* kind = find_service_kind(kinds_.at(service)))
      fields.insert(fields.end(), kind->reference_fields.begin(), kind->reference_fields.end());
    if (std::find(fields.begin(), fields.end(), field) == fields.end())
      fail(where, fmt::format("unknown field '{}' in '{}': a {} service gives {}", field, reference, kinds_.at(service),
                              fmt::join(fields, ", ")));
  }
}

}  // namespace firedrill::scenario_yaml
