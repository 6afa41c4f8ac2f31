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
};

struct CheckEntry {
  VerbSpec spec;
  /// Pass, fail, or unknown when what it judges was not measured.
  std::function<CheckOutcome(const CheckSpec& check, const CheckInput& input)> evaluate;
};

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

}  // namespace firedrill
