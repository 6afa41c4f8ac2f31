#pragma once
// One drill from start to verdict: bring the scenario's services up, keep the workload writing,
// run the steps (faults, actions, waits), read back what survived, tear down, evaluate the
// recorded history and write the report. Recovery is measured from the history alone; the time
// the harness spends on itself (bring-up, teardown) is reported apart.
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/model.hpp"
#include "harness/engine/drill_options.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

struct DrillResult {
  std::string run_id;
  std::filesystem::path run_dir;
  bool passed = false;  // the measured verdict, whatever the scenario expects
  bool interrupted = false;
  // 0 the verdict the scenario expects (`expect:`, pass by default), 1 the other, 3 environment,
  // 130 interrupted
  int exit_code = 1;
  std::string environment_error;
  nlohmann::json report;
};

/// Runs one drill. Never leaves a fault applied or a resource behind on return (unless
/// options.keep); environment errors become exit code 3 with the reason in the result.
DrillResult run_drill(const Scenario& scenario, Runtime& runtime, const DrillOptions& options,
                      const Clock& clock = real_clock());

/// A fresh run id: UTC date-time plus random hex, e.g. 20261125-123456-3fa9.
std::string new_run_id(const Clock& clock);

}  // namespace firedrill
