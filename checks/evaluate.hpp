#pragma once
// From a recorded history to a verdict: measures every component named in the targets (and
// "overall"), judges the objectives and runs the scenario's checks. Pure: a saved run directory
// can be re-evaluated offline with the same result.
#include <optional>
#include <string>
#include <vector>

#include "checks/history.hpp"
#include "checks/measure/analysis.hpp"
#include "checks/report.hpp"
#include "core/model.hpp"

namespace firedrill {

/// The measured and judged parts of a report. Every target is judged once, as an implicit
/// `rto`/`rpo` check; the components' objectives and a listed `rto`/`rpo` check show that
/// judgement.
struct Evaluation {
  std::optional<Micros> incident_at;
  Measured measured;                                   // report.json `measured` (overall)
  std::map<std::string, ComponentResult> components;  // per component: rto/rpo measured vs target, met
  std::vector<CheckOutcome> checks;                    // the scenario's checks, in its order
  std::vector<CheckOutcome> objectives;                // the implicit checks of the targets
  Verdict verdict = Verdict::pass;                     // the worst of the objectives and the checks
  std::vector<std::string> failures;  // each missed objective and failed check, as a sentence
  bool passed() const { return verdict == Verdict::pass; }
};

/// The probes and writers of a component as the scenario defines them ("overall": all).
ComponentScope scope_of(const Scenario& scenario, const std::string& component);

/// Evaluates a drill. Without a readback (the drill never got that far) data-loss figures are
/// null and checks that need them fail as unknown.
Evaluation evaluate(const Scenario& scenario, const std::vector<Event>& events, const std::vector<Ack>& acks,
                    const std::optional<Readback>& readback);

}  // namespace firedrill
