#include "injectors/stop.hpp"

#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace firedrill {
namespace {

std::chrono::milliseconds grace_of(const StepSpec& step) {
  auto configured = step.params.find("grace");
  if (configured == step.params.end() || !configured->second.duration) return std::chrono::seconds(10);
  return std::chrono::duration_cast<std::chrono::milliseconds>(*configured->second.duration);
}

/// TERM, then KILL once `grace` has passed with the target still running.
void stop_gracefully(Runtime& runtime, const std::string& service, std::chrono::milliseconds grace) {
  process_control(runtime).kill(service, "TERM");
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (runtime.is_running(service)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      process_control(runtime).kill(service, "KILL");
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/// Steps that end other faults apply nothing themselves; the engine does the reverting.
class NothingApplied final : public ActiveFault {
 public:
  void revert() override {}
  nlohmann::json describe() const override { return nlohmann::json::object(); }
};

ParamSpec grace_param() { return {"grace", ParamType::duration, false, "time between TERM and KILL, default 10s"}; }

}  // namespace

VerbSpec StopInjector::spec() {
  return {"stop", "Stop the target gracefully: TERM, then KILL after `grace`; `duration` starts it again after that long.",
          true, {grace_param()}};
}

std::unique_ptr<ActiveFault> StopInjector::inject(FaultContext& context, const StepSpec& step) {
  std::string journal_id;
  if (step.duration) journal_id = context.journal_inverse({{"type", "start"}, {"service", step.target}});
  auto grace = grace_of(step);
  stop_gracefully(context.runtime, step.target, grace);
  return std::make_unique<JournalledFault>(context, journal_id, start_again_if_stopped(context.runtime, step.target),
                                           nlohmann::json{{"grace_ms", grace.count()}});
}

VerbSpec RestartInjector::spec() {
  return {"restart", "Restart the target's container (TERM, KILL after `grace`, start) as an orchestrator would.", true,
          {grace_param()}};
}

std::unique_ptr<ActiveFault> RestartInjector::inject(FaultContext& context, const StepSpec& step) {
  auto grace = grace_of(step);
  process_control(context.runtime).restart(step.target, std::chrono::duration_cast<std::chrono::seconds>(grace));
  return std::make_unique<NothingApplied>();
}

VerbSpec ResumeStep::spec() {
  return {"resume", "End an earlier `pause` of the target.", true, {}};
}

std::unique_ptr<ActiveFault> ResumeStep::inject(FaultContext&, const StepSpec&) { return std::make_unique<NothingApplied>(); }

VerbSpec HealStep::spec() {
  return {"heal", "End earlier `partition`, `loss` and `latency` faults involving the target (all of them without a target).", false,
          {}};
}

std::unique_ptr<ActiveFault> HealStep::inject(FaultContext&, const StepSpec&) { return std::make_unique<NothingApplied>(); }

}  // namespace firedrill
