#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `kill`: sends a signal (default KILL) to the target's main process. With `restart_after`, the
/// container is started again after that long; without it, bringing it back is the runbook's job.
/// As root beside a local engine the signal goes straight to the process (kill(2) through a
/// pidfd) and, for KILL, the step returns once the process has exited; elsewhere, or
/// with `via: engine`, the engine sends it. The fault's details say which (`via`).
class KillInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  std::optional<Duration> revert_after(const StepSpec& step) const override;
  TakesEffect takes_effect() const override { return TakesEffect::when_requested; }
  static VerbSpec spec();
  static void check_params(const StepSpec& step);
};

}  // namespace firedrill
