#include "checks/report.hpp"

#include "checks/json_fields.hpp"

#include <algorithm>
#include <initializer_list>

namespace firedrill {
namespace {

using json = nlohmann::json;

using json_fields::field;
using json_fields::flag;
using json_fields::integer;
using json_fields::number;
using json_fields::optional_integer;
using json_fields::optional_number;
using json_fields::optional_text;
using json_fields::text;

template <typename T>
json null_or(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

/// The keys of `object` other than `known`, kept so that a report read and written again loses nothing.
json rest(const json& object, std::initializer_list<const char*> known) {
  json others = json::object();
  if (!object.is_object()) return others;
  for (const auto& item : object.items()) {
    const std::string& key = item.key();
    if (std::none_of(known.begin(), known.end(), [&key](const char* name) { return key == name; })) others[key] = item.value();
  }
  return others;
}

void merge(json& into, const json& extra) {
  if (!extra.is_object()) return;
  for (const auto& [key, value] : extra.items())
    if (!into.contains(key)) into[key] = value;
}

std::vector<std::string> strings(const json& array) {
  std::vector<std::string> items;
  if (!array.is_array()) return items;
  for (const auto& item : array)
    if (item.is_string()) items.push_back(item.get<std::string>());
  return items;
}

std::optional<ObjectiveResult> objective_from(const json& object) {
  if (!object.is_object()) return std::nullopt;
  return ObjectiveResult{optional_number(object, "measured_seconds"), number(object, "target_seconds"), flag(object, "met", false)};
}

json objective_json(const ObjectiveResult& objective) {
  return {{"measured_seconds", null_or(objective.measured_seconds)},
          {"target_seconds", objective.target_seconds},
          {"met", objective.met}};
}

WriteWindow window_from(const json& object) {
  WriteWindow window;
  window.from = text(object, "from");
  window.to = text(object, "to");
  window.writes_sent = integer(object, "writes_sent");
  window.writes_failed = integer(object, "writes_failed");
  window.error_rate = number(object, "error_rate");
  window.p50_write_latency_ms = optional_number(object, "p50_write_latency_ms");
  window.p90_write_latency_ms = optional_number(object, "p90_write_latency_ms");
  window.p99_write_latency_ms = optional_number(object, "p99_write_latency_ms");
  window.max_write_latency_ms = optional_number(object, "max_write_latency_ms");
  window.step = optional_text(object, "step");
  window.fault = optional_text(object, "fault");
  window.target = optional_text(object, "target");
  return window;
}

json window_json(const WriteWindow& window) {
  json object = {{"from", window.from},
                 {"to", window.to},
                 {"writes_sent", window.writes_sent},
                 {"writes_failed", window.writes_failed},
                 {"error_rate", window.error_rate},
                 {"p50_write_latency_ms", null_or(window.p50_write_latency_ms)},
                 {"p90_write_latency_ms", null_or(window.p90_write_latency_ms)},
                 {"p99_write_latency_ms", null_or(window.p99_write_latency_ms)},
                 {"max_write_latency_ms", null_or(window.max_write_latency_ms)}};
  if (window.step) object["step"] = *window.step;
  if (window.fault) object["fault"] = *window.fault;
  if (window.target) object["target"] = *window.target;
  return object;
}

Measured measured_from(const json& object) {
  Measured measured;
  measured.rto_seconds = optional_number(object, "rto_seconds");
  measured.rpo_seconds = optional_number(object, "rpo_seconds");
  measured.downtime_seconds = optional_number(object, "downtime_seconds");
  measured.detect_seconds = optional_number(object, "detect_seconds");
  measured.writes_sent = optional_integer(object, "writes_sent");
  measured.acked_writes = optional_integer(object, "acked_writes");
  measured.failed_writes = optional_integer(object, "failed_writes");
  measured.lost_acked_writes = optional_integer(object, "lost_acked_writes");
  measured.lost_acked_after_incident = optional_integer(object, "lost_acked_after_incident");
  if (const json& phases = field(object, "phases"); phases.is_object())
    for (const auto& [phase, at] : phases.items())
      measured.phases[phase] = at.is_string() ? std::optional<std::string>(at.get<std::string>()) : std::nullopt;
  measured.recovery = text(object, "recovery");
  measured.recovered_after_fault_ended_seconds = optional_number(object, "recovered_after_fault_ended_seconds");
  if (const json& quality = field(object, "measurement_quality"); quality.is_object())
    measured.measurement_quality = QualityOfTiming{text(quality, "verdict"),
                                                   number(quality, "tolerance_ms"),
                                                   optional_number(quality, "scheduling_delay_max_ms"),
                                                   optional_number(quality, "scheduling_delay_p99_ms"),
                                                   optional_number(quality, "cpu_pressure_percent"),
                                                   text(quality, "note")};
  if (const json& incident = field(object, "during_incident"); incident.is_object())
    measured.during_incident = IncidentWrites{integer(incident, "writes_sent"), number(incident, "error_rate"),
                                              optional_number(incident, "p50_write_latency_ms"),
                                              optional_number(incident, "p99_write_latency_ms")};
  if (const json& before = field(object, "before_faults"); before.is_object()) measured.before_faults = window_from(before);
  if (const json& during = field(object, "during_faults"); during.is_array())
    for (const auto& window : during) measured.during_faults.push_back(window_from(window));
  measured.extra = rest(object, {"rto_seconds", "rpo_seconds", "downtime_seconds", "detect_seconds", "writes_sent",
                                 "acked_writes", "failed_writes", "lost_acked_writes", "lost_acked_after_incident", "phases",
                                 "recovery", "recovered_after_fault_ended_seconds", "measurement_quality", "during_incident",
                                 "before_faults", "during_faults"});
  return measured;
}

ComponentResult component_from(const json& object) {
  ComponentResult component;
  component.detect_seconds = optional_number(object, "detect_seconds");
  component.downtime_seconds = optional_number(object, "downtime_seconds");
  component.recovered = flag(object, "recovered", false);
  component.recovery = text(object, "recovery");
  component.rto = objective_from(field(object, "rto"));
  component.rpo = objective_from(field(object, "rpo"));
  component.met = flag(object, "met", false);
  return component;
}

FaultRecord fault_from(const json& object) {
  return {text(object, "type"),
          text(object, "target"),
          text(object, "step"),
          flag(object, "incident", false),
          text(object, "injected_at"),
          optional_text(object, "reverted_at"),
          field(object, "details"),
          rest(object, {"type", "target", "step", "incident", "injected_at", "reverted_at", "details"})};
}

json fault_json(const FaultRecord& fault) {
  json object = {{"type", fault.type},       {"target", fault.target},
                 {"step", fault.step},       {"incident", fault.incident},
                 {"injected_at", fault.injected_at}, {"reverted_at", null_or(fault.reverted_at)},
                 {"details", fault.details}};
  merge(object, fault.extra);
  return object;
}

EnvironmentRecord environment_from(const json& object) {
  EnvironmentRecord environment;
  environment.runtime = text(object, "runtime");
  if (const json& services = field(object, "services"); services.is_array())
    for (const auto& service : services) environment.services.push_back(service.get<ServiceRecord>());
  environment.firedrill_version = text(object, "firedrill_version");
  environment.host = text(object, "host");
  environment.extra = rest(object, {"runtime", "services", "firedrill_version", "host"});
  return environment;
}

json environment_json(const EnvironmentRecord& environment) {
  json services = json::array();
  for (const auto& service : environment.services) {
    json entry = {{"name", service.name},
                  {"kind", service.kind},
                  {"image", service.image},
                  {"image_id", service.image_id},
                  {"endpoint", service.endpoint}};
    merge(entry, service.extra);
    services.push_back(std::move(entry));
  }
  json object = {{"runtime", environment.runtime},
                 {"services", services},
                 {"firedrill_version", environment.firedrill_version},
                 {"host", environment.host}};
  merge(object, environment.extra);
  return object;
}

}  // namespace

Verdict worst(Verdict a, Verdict b) { return static_cast<int>(a) >= static_cast<int>(b) ? a : b; }

std::string verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::pass: return "pass";
    case Verdict::unknown: return "unknown";
    case Verdict::fail: return "fail";
  }
  return "fail";
}

std::string report_verdict_word(Verdict verdict) { return verdict == Verdict::pass ? "pass" : "fail"; }

void to_json(nlohmann::json& json, const Measured& measured) {
  json = {{"rto_seconds", null_or(measured.rto_seconds)},
          {"rpo_seconds", null_or(measured.rpo_seconds)},
          {"downtime_seconds", null_or(measured.downtime_seconds)},
          {"detect_seconds", null_or(measured.detect_seconds)},
          {"writes_sent", null_or(measured.writes_sent)},
          {"acked_writes", null_or(measured.acked_writes)},
          {"failed_writes", null_or(measured.failed_writes)},
          {"lost_acked_writes", null_or(measured.lost_acked_writes)},
          {"lost_acked_after_incident", null_or(measured.lost_acked_after_incident)},
          {"phases", nlohmann::json::object()},
          {"recovery", measured.recovery}};
  for (const auto& [phase, at] : measured.phases) json["phases"][phase] = null_or(at);
  if (measured.recovered_after_fault_ended_seconds)
    json["recovered_after_fault_ended_seconds"] = *measured.recovered_after_fault_ended_seconds;
  if (const auto& quality = measured.measurement_quality)
    json["measurement_quality"] = {{"verdict", quality->verdict},
                                   {"tolerance_ms", quality->tolerance_ms},
                                   {"scheduling_delay_max_ms", null_or(quality->scheduling_delay_max_ms)},
                                   {"scheduling_delay_p99_ms", null_or(quality->scheduling_delay_p99_ms)},
                                   {"cpu_pressure_percent", null_or(quality->cpu_pressure_percent)},
                                   {"note", quality->note}};
  if (const auto& incident = measured.during_incident)
    json["during_incident"] = {{"writes_sent", incident->writes_sent},
                               {"error_rate", incident->error_rate},
                               {"p50_write_latency_ms", null_or(incident->p50_write_latency_ms)},
                               {"p99_write_latency_ms", null_or(incident->p99_write_latency_ms)}};
  if (measured.before_faults) json["before_faults"] = window_json(*measured.before_faults);
  if (!measured.during_faults.empty()) {
    json["during_faults"] = nlohmann::json::array();
    for (const auto& window : measured.during_faults) json["during_faults"].push_back(window_json(window));
  }
  merge(json, measured.extra);
}

void to_json(nlohmann::json& json, const ComponentResult& component) {
  json = {{"detect_seconds", null_or(component.detect_seconds)},
          {"downtime_seconds", null_or(component.downtime_seconds)},
          {"recovered", component.recovered},
          {"recovery", component.recovery},
          {"met", component.met}};
  if (component.rto) json["rto"] = objective_json(*component.rto);
  if (component.rpo) json["rpo"] = objective_json(*component.rpo);
}

void to_json(nlohmann::json& json, const CheckOutcome& check) {
  json = {{"name", check.name}, {"passed", check.passed()}, {"detail", check.detail}};
}

void to_json(nlohmann::json& json, const Report& report) {
  nlohmann::json scenario = {{"name", report.scenario.name},
                             {"file", report.scenario.file},
                             {"sha256", report.scenario.sha256},
                             {"description", report.scenario.description},
                             {"runbook", report.scenario.runbook}};
  if (report.scenario.tags) scenario["tags"] = *report.scenario.tags;
  merge(scenario, report.scenario.extra);
  nlohmann::json components = nlohmann::json::object();
  for (const auto& [name, component] : report.components) components[name] = component;
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& fault : report.faults) faults.push_back(fault_json(fault));
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& step : report.steps) {
    nlohmann::json entry = {{"name", step.name}, {"verb", step.verb}, {"outcome", step.outcome}};
    if (step.what) entry["what"] = *step.what;
    if (step.target) entry["target"] = *step.target;
    if (step.started_at) entry["started_at"] = *step.started_at;
    if (step.finished_at) entry["finished_at"] = *step.finished_at;
    if (step.duration_seconds) entry["duration_seconds"] = *step.duration_seconds;
    if (step.error) entry["error"] = *step.error;
    if (!step.details.is_null()) entry["details"] = step.details;
    if (!step.human.is_null()) entry["human"] = step.human;
    merge(entry, step.extra);
    steps.push_back(std::move(entry));
  }
  json = {{"schema", report.schema},
          {"run_id", report.run_id},
          {"mode", report.mode},
          {"scenario", scenario},
          {"verdict", report_verdict_word(report.verdict)},
          {"reasons", report.reasons},
          {"started_at", report.started_at},
          {"finished_at", report.finished_at},
          {"incident_at", null_or(report.incident_at)},
          {"measured", report.measured},
          {"components", components},
          {"checks", report.checks},
          {"faults", faults},
          {"steps", steps}};
  if (report.harness)
    json["harness"] = {{"bringup_seconds", report.harness->bringup_seconds},
                       {"drill_seconds", report.harness->drill_seconds},
                       {"teardown_seconds", report.harness->teardown_seconds}};
  if (report.environment) json["environment"] = environment_json(*report.environment);
  if (report.expected) json["expected"] = *report.expected;
  if (report.artifacts) {
    json["artifacts"] = nlohmann::json::array();
    for (const auto& artifact : *report.artifacts) json["artifacts"].push_back({{"path", artifact.path}, {"sha256", artifact.sha256}});
  }
  merge(json, report.extra);
}

void from_json(const nlohmann::json& json, Report& report) {
  report = Report{};
  if (!json.is_object()) return;
  report.schema = text(json, "schema");
  report.run_id = text(json, "run_id");
  report.mode = text(json, "mode");
  const auto& scenario = field(json, "scenario");
  report.scenario.name = text(scenario, "name");
  report.scenario.file = text(scenario, "file");
  report.scenario.sha256 = text(scenario, "sha256");
  report.scenario.description = text(scenario, "description");
  report.scenario.runbook = text(scenario, "runbook");
  if (field(scenario, "tags").is_array()) report.scenario.tags = strings(field(scenario, "tags"));
  report.scenario.extra = rest(scenario, {"name", "file", "sha256", "description", "runbook", "tags"});
  const std::string verdict = text(json, "verdict");
  report.verdict = verdict == "pass" ? Verdict::pass : verdict == "unknown" ? Verdict::unknown : Verdict::fail;
  report.reasons = strings(field(json, "reasons"));
  report.started_at = text(json, "started_at");
  report.finished_at = text(json, "finished_at");
  report.incident_at = optional_text(json, "incident_at");
  report.measured = measured_from(field(json, "measured"));
  if (const auto& components = field(json, "components"); components.is_object())
    for (const auto& [name, component] : components.items()) report.components[name] = component_from(component);
  if (const auto& checks = field(json, "checks"); checks.is_array())
    for (const auto& check : checks)
      report.checks.push_back({text(check, "name"), flag(check, "passed", false) ? Verdict::pass : Verdict::fail,
                               text(check, "detail")});
  if (const auto& faults = field(json, "faults"); faults.is_array())
    for (const auto& fault : faults) report.faults.push_back(fault_from(fault));
  if (const auto& steps = field(json, "steps"); steps.is_array())
    for (const auto& step : steps) report.steps.push_back(step.get<StepRecord>());
  if (const auto& harness = field(json, "harness"); harness.is_object())
    report.harness = HarnessTimes{number(harness, "bringup_seconds"), number(harness, "drill_seconds"),
                                  number(harness, "teardown_seconds")};
  if (const auto& environment = field(json, "environment"); environment.is_object())
    report.environment = environment_from(environment);
  report.expected = optional_text(json, "expected");
  if (const auto& artifacts = field(json, "artifacts"); artifacts.is_array()) {
    report.artifacts.emplace();
    for (const auto& artifact : artifacts) report.artifacts->push_back({text(artifact, "path"), text(artifact, "sha256")});
  }
  report.extra = rest(json, {"schema", "run_id", "mode", "scenario", "verdict", "reasons", "started_at", "finished_at",
                             "incident_at", "measured", "components", "checks", "faults", "steps", "harness",
                             "environment", "expected", "artifacts"});
}

void from_json(const nlohmann::json& json, FaultRecord& fault) { fault = fault_from(json); }

void from_json(const nlohmann::json& json, StepRecord& step) {
  step = StepRecord{};
  step.name = text(json, "name");
  step.verb = text(json, "verb");
  step.outcome = text(json, "outcome");
  step.what = optional_text(json, "what");
  step.target = optional_text(json, "target");
  step.started_at = optional_text(json, "started_at");
  step.finished_at = optional_text(json, "finished_at");
  step.duration_seconds = optional_number(json, "duration_seconds");
  step.error = optional_text(json, "error");
  step.details = field(json, "details");
  step.human = field(json, "human");
  step.extra = rest(json, {"name", "verb", "outcome", "what", "target", "started_at", "finished_at", "duration_seconds",
                           "error", "details", "human"});
}

void from_json(const nlohmann::json& json, ServiceRecord& service) {
  service = {text(json, "name"),     text(json, "kind"),
             text(json, "image"),    text(json, "image_id"),
             text(json, "endpoint"), rest(json, {"name", "kind", "image", "image_id", "endpoint"})};
}

Report report_from_json(const nlohmann::json& json) {
  Report report;
  from_json(json, report);
  return report;
}

}  // namespace firedrill
