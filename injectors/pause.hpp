#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `pause`: freezes every process of the target (cgroup freezer) — it keeps its connections
/// and answers nothing — until `duration` passes or teardown.
class PauseInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
