#pragma once
// The faults a drill applied: each injected through its injector with the instant it took effect
// (T0 of an incident), reverted on its own timer when it has a duration, by a later step that
// ends it (`resume`, `heal`), or at the end of the steps — newest first, every one attempted.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/engine/environment.hpp"
#include "harness/engine/run_records.hpp"
#include "injectors/injector.hpp"

namespace firedrill {

class FaultLedger {
 public:
  FaultLedger(Runtime& runtime, RunRecords& records, Environment& environment);
  /// Cancels the timers still running (revert_all() reverts what they would have).
  ~FaultLedger();

  /// Applies the fault step (or ends the faults an ending step names). Throws what the injector
  /// throws: EnvironmentError when the environment cannot take it, anything else as a failed step.
  void apply(const StepSpec& step);

  /// Reverts every fault still active, newest first; what cannot be reverted becomes a failure.
  void revert_all();

  /// The report's `faults`.
  nlohmann::json describe() const;

 private:
  /// A fault the drill applied, with its timer when it reverts itself.
  struct AppliedFault {
    std::string type;
    std::string target;
    std::string aimed_at;  // the service the step named: a cluster, when `target` is the member leading it
    std::string step;
    bool incident = false;
    Micros injected_at = 0;
    std::optional<Micros> reverted_at;
    std::unique_ptr<ActiveFault> fault;
    std::mutex mutex;
    std::thread timer;
    std::atomic<bool> timer_cancelled{false};  // the steps are over: it is reverted now rather than on time
  };

  void inject(const StepSpec& step, Injector& injector);
  void revert(AppliedFault& applied);
  void end_faults(const StepSpec& step, const std::vector<std::string>& types);
  void cancel_timers();
  std::string services_named_in(const StepSpec& step) const;

  Runtime& runtime_;
  RunRecords& records_;
  Environment& environment_;
  FaultContext context_;
  std::vector<std::unique_ptr<AppliedFault>> faults_;
};

}  // namespace firedrill
