#pragma once
// The checks a scenario may ask for (`checks:`), keyed by their word. Each is a pure function of
// the measured history; adding one is one function and one registry line.
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "checks/measure/analysis.hpp"
#include "checks/report.hpp"
#include "core/model.hpp"
#include "core/vocabulary.hpp"

namespace firedrill {

/// What a check may read: the scenario, the history, the measures of each component and the
/// judgements of the targets (the implicit checks every target makes, by name: "rto(db)").
struct CheckInput {
  const Scenario& scenario;
  const std::vector<Event>& events;
  const std::map<std::string, RecoveryMeasure>& recovery;  // by component
  const std::map<std::string, DataLossMeasure>& loss;      // by component
  const std::map<std::string, CheckOutcome>& objectives;   // by check name
  const std::vector<Ack>& acks;                            // every write of the workload
};

/// What a check needs gathered from its subject while the environment is still up (after the
/// steps and the read-back), for its judgement: a one-row query in the subject's own language.
/// The engine runs it and records the answer as a `check.<language>` event — details `subject`,
/// `<language>` (the query) and `value` or `error` — which the check's `evaluate` then reads.
struct Gathering {
  std::string language;  // "sql": a query on a Postgres subject
  std::string query;
};

struct CheckEntry {
  VerbSpec spec;
  /// Pass, fail, or unknown when what it judges was not measured.
  std::function<CheckOutcome(const CheckSpec& check, const CheckInput& input)> evaluate;
  /// What to gather for the check while the environment is up; unset for a check judged from the
  /// history alone.
  std::function<std::vector<Gathering>(const CheckSpec& check)> gather = {};
};

/// One gathering a scenario's checks declared, with the subject to gather it from.
struct GatherRequest {
  std::string subject;
  Gathering gathering;
};

/// Everything the scenario's checks declare to gather, in the order of the checks.
std::vector<GatherRequest> gatherings_of(const Scenario& scenario);

/// The event a gathering's answer is recorded as: "check.sql".
std::string gathered_event_kind(const Gathering& gathering);

/// A target judged: the component's RTO or RPO (`word`) against `target`; unknown when it was
/// not measured (`why_unknown` says why). The evaluation judges every target once this way; the
/// `rto`/`rpo` checks a scenario lists read that judgement.
CheckOutcome judge_objective(const std::string& word, const std::string& component, const std::optional<double>& measured,
                             const std::string& why_unknown, Duration target);

/// Every check by word; a duplicate aborts at start-up.
const std::map<std::string, CheckEntry>& check_registry();
std::map<std::string, VerbSpec> check_specs();

/// The integrity check (checks/integrity.cpp).
CheckEntry integrity_check();
/// The `latency` check (latency.cpp).
CheckEntry latency_check();

}  // namespace firedrill
