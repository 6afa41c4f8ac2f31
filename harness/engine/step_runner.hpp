#pragma once
// The scenario's steps in order: waits, faults (through the fault ledger), actions (through the
// action registry), awaits (through the observers) and manual steps (a person in a rehearsal,
// skipped in a run), each recorded as it starts and ends. A step that fails ends the sequence;
// the steps after it are reported as not run.
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/engine/environment.hpp"
#include "harness/engine/fault_ledger.hpp"
#include "harness/engine/observers.hpp"
#include "harness/engine/run_records.hpp"

namespace firedrill {

class StepRunner {
 public:
  StepRunner(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, RunRecords& records,
             Environment& environment, FaultLedger& faults, Observers& observers);

  /// Runs every step, then keeps observing for one stability window (so the write recovery is
  /// judged on a full one). False when a step failed or the run was interrupted.
  bool run_steps();

  /// The report's `steps`.
  const nlohmann::json& steps() const { return steps_; }

 private:
  bool run_step(std::size_t index, const StepSpec& step);
  nlohmann::json run_action(const StepSpec& step, Micros started);
  nlohmann::json perform_by_hand(std::size_t index, const StepSpec& step, std::string& outcome);
  bool sleep_interruptibly(Micros until);
  Duration tail_duration() const;

  const Scenario& scenario_;
  Runtime& runtime_;
  const DrillOptions& options_;
  RunRecords& records_;
  Environment& environment_;
  FaultLedger& faults_;
  Observers& observers_;
  nlohmann::json steps_ = nlohmann::json::array();
};

}  // namespace firedrill
