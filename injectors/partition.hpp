#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `partition`: cuts services apart with DROP rules in a network namespace. Exactly one of
/// `isolate: S` (S from every other service of the run; with `include_clients: true` also from
/// the harness's own path through the published ports) or `between: [A, B]` (only that pair;
/// with `one_way: true` only A→B packets are dropped, B→A ones still arrive). Lasts `duration`,
/// else until teardown.
class PartitionInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  static VerbSpec spec();
  /// Throws std::invalid_argument, naming the step, unless the parameters combine sensibly
  /// (exactly one of isolate/between, two distinct services in between, one_way only with
  /// between, include_clients only with isolate).
  static void check_params(const StepSpec& step);
};

}  // namespace firedrill
