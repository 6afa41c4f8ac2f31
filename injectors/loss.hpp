#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `loss`: drops `percent` of the target's packets at random, each direction independently — all
/// of its traffic on the run's network, or only that to and from `towards`. Lasts `duration`,
/// else until teardown.
class LossInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
