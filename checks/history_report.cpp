#include "checks/history_report.hpp"

#include "checks/evaluate.hpp"
#include "checks/json_fields.hpp"

namespace firedrill {
namespace {

using json_fields::optional_text;
using json_fields::text;

/// The faults as the timeline recorded them: injected, and reverted by the same step.
std::vector<FaultRecord> faults_of(const std::vector<Event>& events) {
  std::vector<FaultRecord> faults;
  for (const Event& injected : events) {
    if (injected.kind != event_kind::fault_injected) continue;
    FaultRecord fault;
    fault.type = text(injected.details, "fault");
    fault.target = text(injected.details, "target");
    fault.step = text(injected.details, "step");
    fault.incident = injected.details.value("incident", false);
    fault.injected_at = format_rfc3339_micros(injected.t);
    fault.details = injected.details.value("details", nlohmann::json());
    for (const Event& reverted : events)
      if (reverted.kind == event_kind::fault_reverted && reverted.t >= injected.t && text(reverted.details, "step") == fault.step) {
        fault.reverted_at = format_rfc3339_micros(reverted.t);
        break;
      }
    faults.push_back(std::move(fault));
  }
  return faults;
}

/// The steps as the timeline recorded them, from each start to its finish.
std::vector<StepRecord> steps_of(const std::vector<Event>& events) {
  std::vector<StepRecord> steps;
  for (const Event& started : events) {
    if (started.kind != event_kind::step_started) continue;
    StepRecord step;
    step.name = text(started.details, "step");
    step.verb = text(started.details, "verb");
    step.outcome = "not finished";
    step.started_at = format_rfc3339_micros(started.t);
    for (const Event& finished : events) {
      if (finished.kind != event_kind::step_finished || finished.t < started.t || text(finished.details, "step") != step.name)
        continue;
      step.outcome = text(finished.details, "outcome");
      step.what = optional_text(finished.details, "what");
      step.target = optional_text(finished.details, "target");
      step.finished_at = format_rfc3339_micros(finished.t);
      step.duration_seconds = seconds_between(started.t, finished.t);
      if (const std::string error = text(finished.details, "error"); !error.empty()) step.error = error;
      break;
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace

Report report_from_history(const Scenario& scenario, const std::vector<Event>& events, const std::vector<Ack>& acks,
                           const std::optional<Readback>& readback) {
  Evaluation evaluation = evaluate(scenario, events, acks, readback);
  Report report;
  report.scenario = {scenario.name, scenario.file, scenario.sha256, scenario.description, scenario.runbook, scenario.tags,
                     nlohmann::json::object()};
  for (const Event& event : events) {
    if (event.kind == event_kind::run_started) {
      report.run_id = text(event.details, "run_id");
      report.mode = text(event.details, "mode");
      report.started_at = format_rfc3339_micros(event.t);
    }
    if (event.kind == event_kind::run_finished) report.finished_at = format_rfc3339_micros(event.t);
  }
  report.verdict = evaluation.verdict;
  report.reasons = std::move(evaluation.failures);
  if (evaluation.incident_at) report.incident_at = format_rfc3339_micros(*evaluation.incident_at);
  report.measured = std::move(evaluation.measured);
  report.components = std::move(evaluation.components);
  report.checks = std::move(evaluation.checks);
  report.faults = faults_of(events);
  report.steps = steps_of(events);
  if (scenario.expect == "fail") report.expected = "fail";
  return report;
}

}  // namespace firedrill
