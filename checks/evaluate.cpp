#include "checks/evaluate.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "checks/registry.hpp"

namespace firedrill {
namespace {

std::optional<std::string> optional_time(const std::optional<Micros>& value) {
  if (!value) return std::nullopt;
  return format_rfc3339_micros(*value);
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

WriteWindow write_window(const std::vector<Ack>& acks, Micros from, Micros to) {
  auto stats = write_stats(acks, from, std::max(to, from + 1));
  WriteWindow window;
  window.from = format_rfc3339_micros(from);
  window.to = format_rfc3339_micros(to);
  window.writes_sent = stats.sent;
  window.writes_failed = stats.failed;
  window.error_rate = stats.error_rate;
  window.p50_write_latency_ms = stats.p50_latency_ms;
  window.p90_write_latency_ms = stats.p90_latency_ms;
  window.p99_write_latency_ms = stats.p99_latency_ms;
  window.max_write_latency_ms = stats.max_latency_ms;
  return window;
}

/// The writes while each fault was in force (from injected to reverted, or to the last write),
/// and before the first fault as the baseline they are compared with: a fault that degrades
/// rather than breaks (loss, latency) shows here, not in the RTO.
void measure_fault_windows(const std::vector<Event>& events, const std::vector<Ack>& acks, Measured& measured) {
  if (acks.empty()) return;
  Micros last_write = acks.front().sent;
  for (const Ack& ack : acks) last_write = std::max(last_write, ack.sent + 1);
  std::vector<WriteWindow> windows;
  std::optional<Micros> first_fault;
  for (const FaultWindow& fault : fault_windows(events, last_write)) {
    auto window = write_window(acks, fault.from, fault.to);
    window.step = fault.step;
    window.fault = fault.fault;
    window.target = fault.target;
    windows.push_back(window);
    first_fault = std::min(first_fault.value_or(fault.from), fault.from);
  }
  if (windows.empty()) return;
  Micros first_write = acks.front().sent;
  for (const Ack& ack : acks) first_write = std::min(first_write, ack.sent);
  measured.before_faults = write_window(acks, first_write, *first_fault);
  measured.during_faults = std::move(windows);
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
  Measured& measured = evaluation.measured;
  measured.rto_seconds = overall.rto_seconds;
  measured.rpo_seconds = overall_loss.rpo_seconds;
  measured.downtime_seconds = overall.downtime_seconds;
  measured.detect_seconds = overall.detect_seconds;
  measured.writes_sent = overall_loss.writes_sent;
  measured.acked_writes = overall_loss.acked;
  measured.failed_writes = overall_loss.failed;
  if (overall_loss.readback_available) {
    measured.lost_acked_writes = overall_loss.lost_acked;
    measured.lost_acked_after_incident = overall_loss.lost_acked_after_incident;
  }
  measured.phases = {{"incident_at", optional_time(overall.incident_at)},
                     {"detected_at", optional_time(overall.detected_at)},
                     {"probes_recovered_at", optional_time(overall.probes_recovered_at)},
                     {"writes_recovered_at", optional_time(overall.writes_recovered_at)},
                     {"recovered_at", optional_time(overall.recovered_at)}};
  measured.recovery = overall.reason;
  if (evaluation.incident_at) {
    Micros until = overall.recovered_at.value_or(evaluation.incident_at.value());
    const MeasurementQuality quality = measurement_quality(events, *evaluation.incident_at, until, overall.rto_seconds);
    measured.measurement_quality = QualityOfTiming{quality.verdict,          quality.tolerance_ms,
                                                   quality.max_delay_ms,     quality.p99_delay_ms,
                                                   quality.cpu_pressure_percent, quality.note};
    // The system's own part of the RTO: from the end of the incident's fault to recovery.
    if (const auto ended = incident_fault_ended_at(events)) {
      measured.phases["fault_ended_at"] = optional_time(ended);
      if (overall.recovered_at && *overall.recovered_at >= *ended)
        measured.recovered_after_fault_ended_seconds = static_cast<double>(*overall.recovered_at - *ended) / 1e6;
    }
    auto stats = write_stats(acks, *evaluation.incident_at, std::max(until, *evaluation.incident_at + 1));
    measured.during_incident = IncidentWrites{stats.sent, stats.error_rate, stats.p50_latency_ms, stats.p99_latency_ms};
  }
  measure_fault_windows(events, acks, measured);

  // Every target judged once: the implicit rto/rpo check of the component, which its objective,
  // the reasons and a listed rto/rpo check all show.
  std::map<std::string, CheckOutcome> judged;
  for (const auto& component : components) {
    const auto& measure = recovery.at(component);
    ComponentResult entry;
    entry.detect_seconds = measure.detect_seconds;
    entry.downtime_seconds = measure.downtime_seconds;
    entry.recovered = measure.recovered;
    entry.recovery = measure.reason;
    auto target = scenario.targets.find(component);
    auto judge = [&](const char* word, const char* label, const std::optional<double>& value, const std::string& why_unknown,
                     const Duration& limit, bool unknown_fails = false) {
      CheckOutcome outcome = judge_objective(word, component, value, why_unknown, limit);
      if (!value && unknown_fails) outcome.verdict = Verdict::fail;
      const double target_seconds = static_cast<double>(limit.count()) / 1e6;
      if (!outcome.passed())
        evaluation.failures.push_back(
            fmt::format("{}: {} {} missed the target {:.3f}s", component, label, seconds_text(value), target_seconds));
      evaluation.verdict = worst(evaluation.verdict, outcome.verdict);
      judged[outcome.name] = outcome;
      evaluation.objectives.push_back(outcome);
      return ObjectiveResult{value, target_seconds, outcome.passed()};
    };
    if (target != scenario.targets.end()) {
      if (target->second.rto) entry.rto = judge("rto", "RTO", measure.rto_seconds, measure.reason, *target->second.rto);
      if (target->second.rpo) {
        // A read-back that failed fails the target with its reason: the loss is not known to be
        // within it.
        const std::string& failed = loss.at(component).readback_error;
        entry.rpo = judge("rpo", "RPO", loss.at(component).rpo_seconds,
                          failed.empty() ? "no read-back of the writes (or no incident), so the loss is unknown" : failed,
                          *target->second.rpo, !failed.empty());
      }
    }
    entry.met = (!entry.rto || entry.rto->met) && (!entry.rpo || entry.rpo->met);
    evaluation.components[component] = entry;
  }

  CheckInput input{scenario, events, recovery, loss, judged, acks};
  for (const auto& check : scenario.checks) {
    CheckOutcome result;
    try {
      result = check_registry().at(check.kind).evaluate(check, input);
    } catch (const std::exception& error) {
      // A check that cannot decide is not a pass.
      result = {fmt::format("{}({})", check.kind, check.subject), Verdict::unknown,
                fmt::format("could not be evaluated: {}", error.what())};
    }
    evaluation.checks.push_back(result);
    evaluation.verdict = worst(evaluation.verdict, result.verdict);
    if (!result.passed()) evaluation.failures.push_back(fmt::format("check {} failed: {}", result.name, result.detail));
  }
  return evaluation;
}

}  // namespace firedrill
