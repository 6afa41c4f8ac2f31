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

namespace firedrill::scenario_yaml {
namespace {

const std::vector<std::string> step_verbs = {"wait", "fault", "action", "await", "manual"};

}  // namespace

ParamValue ScenarioReader::read_param(const ParamSpec& spec, const Node& node) {
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
      const auto value = parse_integer(text, out_of_range);
      if (!value) {
        if (out_of_range) fail(node.where, fmt::format("{} is out of range: '{}'", subject, text));
        fail(node.where, fmt::format("{} must be an integer, got '{}'", subject, text));
      }
      param.number = static_cast<double>(*value);
      break;
    }
    case ParamType::number: param.number = check_number(node, subject, text); break;
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
      param.number = std::strtod(digits.c_str(), nullptr);
      break;
    }
    case ParamType::service: existing_service(node, spec.name); break;
    case ParamType::string_list:
    case ParamType::service_list: break;
  }
  return param;
}

double ScenarioReader::check_number(const Node& node, const std::string& subject, const std::string& text) {
  const bool plain = !text.empty() && text.find_first_not_of("0123456789+-.eE") == std::string::npos;
  char* end = nullptr;
  errno = 0;
  const double value = plain ? std::strtod(text.c_str(), &end) : 0;
  if (!plain || end != text.c_str() + text.size())
    fail(node.where, fmt::format("{} must be a number, got '{}'", subject, text));
  if (errno == ERANGE || !std::isfinite(value) || std::fabs(value) > 1e15)
    fail(node.where, fmt::format("{} is out of range: '{}'", subject, text));
  return value;
}

const ParamSpec* ScenarioReader::param_spec(const VerbSpec& verb, std::string_view name) {
  for (const auto& param : verb.params)
    if (param.name == name) return &param;
  return nullptr;
}

void ScenarioReader::check_required(const VerbSpec& verb, const Params& params, std::string_view what, Pos where) {
  for (const auto& param : verb.params)
    if (param.required && !params.count(param.name))
      fail(where, fmt::format("{} '{}' needs parameter '{}'", what, verb.name, param.name));
}

void ScenarioReader::read_steps(const Node& node) {
  expect(node, Node::Kind::sequence, "'steps'");
  std::set<std::string> names;
  for (const auto& item : node.items) {
    StepSpec step = read_step(expect(item, Node::Kind::map, "each step"));
    if (!names.insert(step.name).second) fail(name_where_, fmt::format("duplicate step name '{}'", step.name));
    scenario_.steps.push_back(step);
  }
}

UntilSpec ScenarioReader::read_until(const Node& node) {
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

StepSpec ScenarioReader::read_step(const Node& spec) {
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
    if (verb_spec->needs && options_.runtime)
      for (const Capability needed : verb_spec->needs(step))
        if (!options_.runtime->capabilities.count(needed))
          fail(verb->value.where, fmt::format("{} '{}' needs a runtime that can {}; the {} runtime cannot", verb_word,
                                              step.what, to_string(needed), options_.runtime->name));
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

}  // namespace firedrill::scenario_yaml
