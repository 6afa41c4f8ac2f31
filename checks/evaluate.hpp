#pragma once
// From a recorded history to a verdict: measures every component named in the targets (and
// "overall"), judges the objectives and runs the scenario's checks. Pure: a saved run directory
// can be re-evaluated offline with the same result.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "checks/measure/analysis.hpp"
#include "core/model.hpp"

namespace firedrill {

struct Evaluation {
  std::optional<Micros> incident_at;
  nlohmann::json measured = nlohmann::json::object();    // report.json `measured` (overall)
  nlohmann::json components = nlohmann::json::object();  // per component: rto/rpo measured vs target, met
  nlohmann::json checks = nlohmann::json::array();       // [{name, passed, detail}]
  bool passed = true;
  std::vector<std::string> failures;  // each missed objective and failed check, as a sentence
};

/// The probes and writers of a component as the scenario defines them ("overall": all).
ComponentScope scope_of(const Scenario& scenario, const std::string& component);

/// Evaluates a drill. Without a readback (the drill never got that far) data-loss figures are
/// null and checks that need them fail as unknown.
Evaluation evaluate(const Scenario& scenario, const std::vector<Event>& events, const std::vector<Ack>& acks,
                    const std::optional<Readback>& readback);

}  // namespace firedrill
