#include "checks/evaluate.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "checks/registry.hpp"

namespace firedrill {
namespace {

nlohmann::json optional_number(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json optional_time(const std::optional<Micros>& value) {
  return value ? nlohmann::json(format_rfc3339_micros(*value)) : nlohmann::json(nullptr);
}

/// The stability window of a component: that of the await step about it, else of the first
/// await step, else one second.
Duration stable_window(const Scenario& scenario, const std::string& component) {
  std::optional<Duration> first;
  for (const auto& step : scenario.steps) {
    if (step.verb != StepVerb::await) continue;
    Duration stable = step.stable.value_or(std::chrono::seconds(1));
    std::string about = step.target.empty() ? "overall" : step.target;
    if (about == component) return stable;
    if (!first) first = stable;
  }
  return first.value_or(std::chrono::seconds(1));
}

nlohmann::json objective(const std::optional<double>& measured, const std::optional<Duration>& target) {
  double target_seconds = static_cast<double>(target->count()) / 1e6;
  return {{"measured_seconds", optional_number(measured)},
          {"target_seconds", target_seconds},
          {"met", measured && *measured <= target_seconds}};
}

nlohmann::json write_window(const std::vector<Ack>& acks, Micros from, Micros to) {
  auto stats = write_stats(acks, from, std::max(to, from + 1));
  return {{"from", format_rfc3339_micros(from)},
          {"to", format_rfc3339_micros(to)},
          {"writes_sent", stats.sent},
          {"writes_failed", stats.failed},
          {"error_rate", stats.error_rate},
          {"p50_write_latency_ms", optional_number(stats.p50_latency_ms)},
          {"p90_write_latency_ms", optional_number(stats.p90_latency_ms)},
          {"p99_write_latency_ms", optional_number(stats.p99_latency_ms)},
          {"max_write_latency_ms", optional_number(stats.max_latency_ms)}};
}

/// The writes while each fault was in force (from injected to reverted, or to the last write),
/// and before the first fault as the baseline they are compared with: a fault that degrades
/// rather than breaks (loss, latency) shows here, not in the RTO.
void measure_fault_windows(const std::vector<Event>& events, const std::vector<Ack>& acks, nlohmann::json& measured) {
  if (acks.empty()) return;
  Micros last_write = acks.front().sent;
  for (const Ack& ack : acks) last_write = std::max(last_write, ack.sent + 1);
  nlohmann::json windows = nlohmann::json::array();
  std::optional<Micros> first_fault;
  for (const Event& injected : events) {
    if (injected.kind != event_kind::fault_injected) continue;
    const std::string step = injected.details.value("step", "");
    Micros until = last_write;
    for (const Event& reverted : events)
      if (reverted.kind == event_kind::fault_reverted && reverted.t >= injected.t && reverted.details.value("step", "") == step) {
        until = reverted.t;
        break;
      }
    auto window = write_window(acks, injected.t, until);
    window["step"] = step;
    window["fault"] = injected.details.value("fault", "");
    window["target"] = injected.details.value("target", "");
    windows.push_back(window);
    first_fault = std::min(first_fault.value_or(injected.t), injected.t);
  }
  if (windows.empty()) return;
  Micros first_write = acks.front().sent;
  for (const Ack& ack : acks) first_write = std::min(first_write, ack.sent);
  measured["before_faults"] = write_window(acks, first_write, *first_fault);
  measured["during_faults"] = windows;
}

std::string seconds_text(const std::optional<double>& seconds) {
  return seconds ? fmt::format("{:.3f}s", *seconds) : std::string("not measured");
}

}  // namespace

ComponentScope scope_of(const Scenario& scenario, const std::string& component) {
  ComponentScope scope;
  scope.name = component;
  for (const auto& probe : scenario.probes)
    if (component == "overall" || probe.service == component) scope.probes.push_back(probe.name);
  for (const auto& writer : scenario.workload)
    if (component == "overall" || writer.through == component) scope.writers.push_back(writer.name);
  scope.stable = stable_window(scenario, component);
  return scope;
}

Evaluation evaluate(const Scenario& scenario, const std::vector<Event>& events, const std::vector<Ack>& acks,
                    const std::optional<Readback>& readback) {
  Evaluation evaluation;
  evaluation.incident_at = incident_time(events);

  std::set<std::string> components = {"overall"};
  for (const auto& [name, target] : scenario.targets) components.insert(name);
  for (const auto& check : scenario.checks) components.insert(check.subject);

  std::map<std::string, RecoveryMeasure> recovery;
  std::map<std::string, DataLossMeasure> loss;
  const Readback no_readback;
  for (const auto& component : components) {
    auto scope = scope_of(scenario, component);
    recovery[component] = measure_recovery(events, acks, scope);
    // Data written through the app lands in the database: a component without writers of its
    // own is judged on every write of the workload.
    loss[component] = measure_data_loss(acks, readback ? *readback : no_readback, evaluation.incident_at, scope.writers);
  }

  const auto& overall = recovery.at("overall");
  const auto& overall_loss = loss.at("overall");
  nlohmann::json measured = {
      {"rto_seconds", optional_number(overall.rto_seconds)},
      {"rpo_seconds", optional_number(overall_loss.rpo_seconds)},
      {"downtime_seconds", optional_number(overall.downtime_seconds)},
      {"detect_seconds", optional_number(overall.detect_seconds)},
      {"writes_sent", overall_loss.writes_sent},
      {"acked_writes", overall_loss.acked},
      {"failed_writes", overall_loss.failed},
      {"lost_acked_writes", overall_loss.readback_available ? nlohmann::json(overall_loss.lost_acked) : nlohmann::json(nullptr)},
      {"lost_acked_after_incident",
       overall_loss.readback_available ? nlohmann::json(overall_loss.lost_acked_after_incident) : nlohmann::json(nullptr)},
      {"phases",
       {{"incident_at", optional_time(overall.incident_at)},
        {"detected_at", optional_time(overall.detected_at)},
        {"probes_recovered_at", optional_time(overall.probes_recovered_at)},
        {"writes_recovered_at", optional_time(overall.writes_recovered_at)},
        {"recovered_at", optional_time(overall.recovered_at)}}},
      {"recovery", overall.reason},
  };
  if (evaluation.incident_at) {
    Micros until = overall.recovered_at.value_or(evaluation.incident_at.value());
    const MeasurementQuality quality = measurement_quality(events, *evaluation.incident_at, until, overall.rto_seconds);
    measured["measurement_quality"] = {{"verdict", quality.verdict},
                                       {"tolerance_ms", quality.tolerance_ms},
                                       {"scheduling_delay_max_ms", optional_number(quality.max_delay_ms)},
                                       {"scheduling_delay_p99_ms", optional_number(quality.p99_delay_ms)},
                                       {"cpu_pressure_percent", optional_number(quality.cpu_pressure_percent)},
                                       {"note", quality.note}};
    // The system's own part of the RTO: from the end of the incident's fault to recovery.
    if (const auto ended = incident_fault_ended_at(events)) {
      measured["phases"]["fault_ended_at"] = optional_time(ended);
      if (overall.recovered_at && *overall.recovered_at >= *ended)
        measured["recovered_after_fault_ended_seconds"] = static_cast<double>(*overall.recovered_at - *ended) / 1e6;
    }
    auto stats = write_stats(acks, *evaluation.incident_at, std::max(until, *evaluation.incident_at + 1));
    measured["during_incident"] = {{"writes_sent", stats.sent},
                                   {"error_rate", stats.error_rate},
                                   {"p50_write_latency_ms", optional_number(stats.p50_latency_ms)},
                                   {"p99_write_latency_ms", optional_number(stats.p99_latency_ms)}};
  }
  measure_fault_windows(events, acks, measured);
  evaluation.measured = measured;

  for (const auto& component : components) {
    const auto& measure = recovery.at(component);
    nlohmann::json entry = {{"detect_seconds", optional_number(measure.detect_seconds)},
                            {"downtime_seconds", optional_number(measure.downtime_seconds)},
                            {"recovered", measure.recovered},
                            {"recovery", measure.reason}};
    bool met = true;
    auto target = scenario.targets.find(component);
    if (target != scenario.targets.end()) {
      if (target->second.rto) {
        entry["rto"] = objective(measure.rto_seconds, target->second.rto);
        if (!entry["rto"]["met"].get<bool>()) {
          met = false;
          evaluation.failures.push_back(fmt::format("{}: RTO {} missed the target {:.3f}s", component,
                                                    seconds_text(measure.rto_seconds),
                                                    static_cast<double>(target->second.rto->count()) / 1e6));
        }
      }
      if (target->second.rpo) {
        entry["rpo"] = objective(loss.at(component).rpo_seconds, target->second.rpo);
        if (!entry["rpo"]["met"].get<bool>()) {
          met = false;
          evaluation.failures.push_back(fmt::format("{}: RPO {} missed the target {:.3f}s", component,
                                                    seconds_text(loss.at(component).rpo_seconds),
                                                    static_cast<double>(target->second.rpo->count()) / 1e6));
        }
      }
    }
    entry["met"] = met;
    evaluation.components[component] = entry;
  }

  CheckInput input{scenario, events, recovery, loss};
  for (const auto& check : scenario.checks) {
    CheckResult result;
    try {
      result = check_registry().at(check.kind).evaluate(check, input);
    } catch (const std::exception& error) {
      // A check that cannot decide is not a pass.
      result = {fmt::format("{}({})", check.kind, check.subject), false, fmt::format("could not be evaluated: {}", error.what())};
    }
    evaluation.checks.push_back({{"name", result.name}, {"passed", result.passed}, {"detail", result.detail}});
    if (!result.passed) evaluation.failures.push_back(fmt::format("check {} failed: {}", result.name, result.detail));
  }
  evaluation.passed = evaluation.failures.empty();
  return evaluation;
}

}  // namespace firedrill
