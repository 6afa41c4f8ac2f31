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

namespace firedrill::scenario_yaml {
namespace {

const std::vector<std::string> top_level_keys = {"version",  "name",     "description", "runbook", "expect",
                                                 "tags",     "targets",  "services",    "workload", "probes",
                                                 "steps",    "checks"};

}  // namespace

bool matches_name(std::string_view name, bool letter_first) {
  if (name.empty() || name.size() > 63) return false;
  if (letter_first && !(name[0] >= 'a' && name[0] <= 'z')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; });
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

void ScenarioReader::read(const Node& root) {
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
  scenario_.services = std::move(expanded_services_);
  scenario_.generated_secrets = std::move(generated_secrets_);
}

void ScenarioReader::check_keys(const Node& map, const std::vector<std::string>& allowed, std::string_view context) {
  for (const auto& entry : map.entries)
    if (std::find(allowed.begin(), allowed.end(), entry.key) == allowed.end())
      fail(entry.key_where,
           fmt::format("unknown {} key '{}'{}", context, entry.key, did_you_mean(entry.key, allowed)));
}

const Node& ScenarioReader::expect(const Node& node, Node::Kind kind, std::string_view subject) {
  if (node.kind != kind) {
    const char* wanted = kind == Node::Kind::map        ? "a map"
                         : kind == Node::Kind::sequence ? "a list"
                                                        : "a single value";
    fail(node.where, fmt::format("{} must be {}, found {}", subject, wanted, describe(node)));
  }
  return node;
}

std::string ScenarioReader::scalar(const Node& node, std::string_view subject) {
  return expect(node, Node::Kind::scalar, fmt::format("'{}'", subject)).value;
}

std::string ScenarioReader::unique_name(const Node& spec, std::set<std::string>& names, std::string_view kind) {
  const Entry* name = find(spec, "name");
  if (!name) fail(spec.where, fmt::format("each {} needs a 'name'", kind));
  std::string text = non_empty(name->value, "name");
  if (!names.insert(text).second) fail(name->value.where, fmt::format("duplicate {} name '{}'", kind, text));
  return text;
}

std::string ScenarioReader::non_empty(const Node& node, std::string_view subject) {
  std::string text = scalar(node, subject);
  if (text.empty()) fail(node.where, fmt::format("'{}' must not be empty", subject));
  return text;
}

int ScenarioReader::integer(const Node& node, std::string_view subject, long long low, long long high) {
  const std::string text = scalar(node, subject);
  bool out_of_range = false;
  const auto value = parse_integer(text, out_of_range);
  if (!value && !out_of_range) fail(node.where, fmt::format("'{}' must be an integer, got '{}'", subject, text));
  if (out_of_range || *value < low || *value > high)
    fail(node.where, fmt::format("'{}' must be from {} to {}, got '{}'", subject, low, high, text));
  return static_cast<int>(*value);
}

bool ScenarioReader::boolean(const Node& node, std::string_view subject) {
  const std::string text = scalar(node, subject);
  if (text == "true") return true;
  if (text == "false") return false;
  fail(node.where, fmt::format("'{}' must be true or false, got '{}'", subject, text));
}

Duration ScenarioReader::duration(const Node& node, std::string_view subject) {
  const std::string text = scalar(node, subject);
  try {
    return parse_duration(text);
  } catch (const std::invalid_argument& e) {
    fail(node.where, e.what());
  }
}

std::vector<std::string> ScenarioReader::scalar_list(const Node& node, std::string_view subject) {
  expect(node, Node::Kind::sequence, fmt::format("'{}'", subject));
  std::vector<std::string> items;
  for (const auto& item : node.items) items.push_back(scalar(item, fmt::format("each item of '{}'", subject)));
  return items;
}

std::vector<std::string> ScenarioReader::component_names() const {
  std::vector<std::string> names = service_names();
  names.insert(names.begin(), "overall");
  return names;
}

const std::string& ScenarioReader::existing_service(const Node& node, std::string_view subject) {
  const std::string name = scalar(node, subject);
  const auto found = kinds_.find(name);
  if (found == kinds_.end())
    fail(node.where, fmt::format("unknown service '{}'{}", name, did_you_mean(name, service_names())));
  return found->second;
}

std::string ScenarioReader::existing_component(const Node& node, std::string_view subject) {
  const std::string name = scalar(node, subject);
  if (name != "overall" && !kinds_.count(name))
    fail(node.where, fmt::format("unknown component '{}': expected 'overall' or a service{}", name,
                                 did_you_mean(name, component_names())));
  return name;
}

void ScenarioReader::read_version(const Node& root) {
  const Entry* entry = find(root, "version");
  if (!entry) fail(root.where, "the scenario needs 'version: 1'");
  const std::string text = scalar(entry->value, "version");
  if (text != "1")
    fail(entry->value.where, fmt::format("unsupported version '{}': this firedrill reads version 1", text));
  scenario_.version = 1;
}

void ScenarioReader::read_name(const Node& root) {
  const Entry* entry = find(root, "name");
  if (!entry) fail(root.where, "the scenario needs a 'name'");
  const std::string name = scalar(entry->value, "name");
  if (!matches_name(name, false))
    fail(entry->value.where,
         fmt::format("invalid scenario name '{}': use 1 to 63 lowercase letters, digits and '-'", name));
  scenario_.name = name;
}

void ScenarioReader::read_targets(const Node& node) {
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

void ScenarioReader::read_probes(const Node& node) {
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

void ScenarioReader::read_probe_type(const Entry& type, ProbeSpec& probe) {
  probe.type = type.key;
  const Node& spec = expect(type.value, Node::Kind::map, fmt::format("'{}'", type.key));
  std::vector<std::string> keys = {"service"};
  if (type.key == "http") keys.insert(keys.end(), {"path", "status"});
  if (type.key == "sql") keys.push_back("query");
  check_keys(spec, keys, type.key + " probe");
  const Entry* service = find(spec, "service");
  if (!service) fail(type.key_where, fmt::format("{} probe '{}' needs a 'service'", type.key, probe.name));
  const std::string& kind = existing_service(service->value, "service");
  probe.service = service->value.value;
  const std::string wanted = type.key == "sql" ? "postgres" : type.key == "redis" ? "redis" : "";
  const ServiceKind* of_kind = find_service_kind(kind);
  if (!wanted.empty() && (of_kind == nullptr || of_kind->speaks != wanted)) {
    std::vector<std::string> speaking;
    for (const auto& candidate : service_kinds())
      if (candidate.declarable && candidate.speaks == wanted) speaking.push_back(candidate.name);
    fail(service->value.where, fmt::format("{} probe '{}' needs a {} service; '{}' is a {} service", type.key,
                                           probe.name, join(speaking, " or "), probe.service, kind));
  }
  if (type.key == "http") {
    const ServiceSpec* declared = scenario_.service(probe.service);
    if (const Entry* path = find(spec, "path")) {
      probe.path = scalar(path->value, "path");
      if (probe.path.empty() || probe.path[0] != '/')
        fail(path->value.where, fmt::format("'path' must start with '/', got '{}'", probe.path));
    } else if (declared && !declared->health.empty()) {
      probe.path = declared->health;
      probe.expect_status = declared->health_status;
    } else {
      fail(type.key_where, fmt::format("http probe '{}' needs a 'path'", probe.name));
    }
    if (const Entry* status = find(spec, "status")) probe.expect_status = integer(status->value, "status", 100, 599);
  }
  if (type.key == "sql") {
    const Entry* query = find(spec, "query");
    probe.query = query ? non_empty(query->value, "query") : "SELECT 1";
  }
}

void ScenarioReader::add_default_probes() {
  for (const auto& service : scenario_.services) {
    ProbeSpec probe;
    probe.service = service.name;
    probe.where = service.where;
    const ServiceKind* kind = find_service_kind(service.kind);
    const std::string speaks = kind ? kind->speaks : "";
    if (speaks == "postgres") {
      probe.name = service.name + "-sql";
      probe.type = "sql";
      probe.query = "SELECT 1";
    } else if (speaks == "redis") {
      probe.name = service.name + "-ping";
      probe.type = "redis";
    } else if (service.kind == "app" || !service.health.empty()) {
      probe.name = service.name + "-health";
      probe.type = "http";
      probe.path = service.health;
      probe.expect_status = service.health_status;
    } else if (service.port) {
      probe.name = service.name + "-tcp";
      probe.type = "tcp";
    } else {
      continue;
    }
    scenario_.probes.push_back(probe);
  }
}

void ScenarioReader::read_checks(const Node& node) {
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
    if (verb.check_combination) {
      StepSpec as_step;
      as_step.name = check.kind;
      as_step.params = check.params;
      try {
        verb.check_combination(as_step);
      } catch (const std::invalid_argument& error) {
        fail(word->key_where, fmt::format("check '{}': {}", check.kind, error.what()));
      }
    }
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

}  // namespace firedrill::scenario_yaml
