#pragma once
// The checks a scenario may ask for (`checks:`), keyed by their word. Each is a pure function of
// the measured history; adding one is one function and one registry line.
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "checks/measure/analysis.hpp"
#include "core/model.hpp"
#include "core/vocabulary.hpp"

namespace firedrill {

/// What a check may read: the scenario, the history and the measures of each component.
struct CheckInput {
  const Scenario& scenario;
  const std::vector<Event>& events;
  const std::map<std::string, RecoveryMeasure>& recovery;  // by component
  const std::map<std::string, DataLossMeasure>& loss;      // by component
};

struct CheckResult {
  std::string name;  // e.g. "rto(overall)"
  bool passed = false;
  std::string detail;  // measured vs expected, in words
};

struct CheckEntry {
  VerbSpec spec;
  std::function<CheckResult(const CheckSpec& check, const CheckInput& input)> evaluate;
};

/// Every check by word; a duplicate aborts at start-up.
const std::map<std::string, CheckEntry>& check_registry();
std::map<std::string, VerbSpec> check_specs();

/// The integrity check (checks/integrity.cpp).
CheckEntry integrity_check();

}  // namespace firedrill
