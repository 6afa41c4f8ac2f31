#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `stop`: a graceful stop — TERM, then KILL when the target still runs after `grace` (default
/// 10 s). With `duration`, the container is started again after that long.
class StopInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  TakesEffect takes_effect() const override { return TakesEffect::when_requested; }
  static VerbSpec spec();
};

/// `restart`: the target is stopped (TERM, KILL after `grace`) and started again at once, as an
/// orchestrator restarting a pod would; nothing is left to revert.
class RestartInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  TakesEffect takes_effect() const override { return TakesEffect::when_requested; }
  static VerbSpec spec();
};

/// `resume`: ends an earlier `pause` of the target (a pause without a duration, say).
class ResumeStep final : public Injector, public EndsFaults {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  std::vector<std::string> fault_types() const override { return {"pause"}; }
  static VerbSpec spec();
};

/// `heal`: ends earlier `partition`, `loss` and `latency` faults involving the target (all of them when
/// the step names no target).
class HealStep final : public Injector, public EndsFaults {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  std::vector<std::string> fault_types() const override { return {"partition", "loss", "latency"}; }
  static VerbSpec spec();
};

}  // namespace firedrill
