#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `loss`: drops `percent` of the target's packets at random, each direction independently — all
/// of its traffic on the run's network, or only that to and from `towards`. Lasts `duration`,
/// else until teardown. Where network faults act on fault proxies (the process runtime), the
/// proxies on the target's paths (to and from `towards` only, when given) hold that share of the
/// chunks they forward for TCP's retransmission timeouts instead (ProxyFaults::loss), drawn from
/// `seed` when the step has one; reverting restores their previous loss and leaves any latency.
class LossInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
