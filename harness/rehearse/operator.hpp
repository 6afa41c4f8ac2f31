#pragma once
// A person in the loop of a drill. `firedrill rehearse` hands every manual step, and every action
// that carries a `manual:` text, to an Operator: it shows the step and waits until the person
// says it is done, skips it or aborts, or until the step's `until:` condition holds by itself.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checks/history.hpp"
#include "core/model.hpp"
#include "harness/rehearse/progress.hpp"

namespace firedrill {

/// What the drill reports to the rehearsal view several times a second.
struct Telemetry {
  std::vector<std::pair<std::string, bool>> probes;  ///< probe name, up
  std::int64_t acked = 0;                            ///< writes acknowledged since the workload started
  std::int64_t failed = 0;                           ///< writes failed since the workload started
  std::vector<Event> events;                         ///< the run's events so far
};

/// One step a person performs.
struct HumanTask {
  std::size_t index = 0;  ///< 0-based position in the scenario's steps
  std::size_t step_count = 0;
  std::string name;
  std::string instruction;
  std::vector<std::string> commands;  ///< ready to paste, with this run's container names and ports
  std::optional<Duration> budget;
  std::string until;                  ///< for the person: when the step completes by itself; empty: never
  std::function<bool()> condition;    ///< polled while waiting; empty when the step has no `until`
  bool automatable = false;           ///< an action firedrill can perform itself when asked (key `r`)
};

enum class HumanVerdict {
  done,                  ///< the person said so (Enter)
  completed_by_itself,   ///< the `until` condition became true
  performed_by_firedrill,  ///< the person asked firedrill to run the step's action
  skipped,
  aborted,  ///< the person aborted the rehearsal (or a signal arrived): the drill stops and tears down
};

/// The word the report uses for how a human step ended.
std::string verdict_word(HumanVerdict verdict);

/// Shows steps to a person and collects their answers. Implementations are thread-safe: the
/// drill's threads call the Progress methods while perform() blocks.
class Operator : public Progress {
 public:
  /// The live figures' source; set once the observers run, cleared (empty) before teardown.
  virtual void observe(std::function<Telemetry()> telemetry) = 0;
  /// Shows the task and blocks until the person or its condition ends it. Returns aborted at
  /// once when interrupted() becomes true; an abort by the person calls request_interrupt().
  virtual HumanVerdict perform(const HumanTask& task) = 0;
};

/// A Progress that forwards to `target`, so the drill can own it while the caller owns `target`.
std::unique_ptr<Progress> forward_progress(Operator& target);

}  // namespace firedrill
