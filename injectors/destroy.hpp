#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `destroy`: the machine is gone. The target's container, its volumes and its data are removed
/// (with every service of `also`, in the order given, for the loss of a whole environment).
/// Nothing is journalled to undo: bringing the services back (`rebuild`, `restore`) is the
/// runbook's job, and teardown removes whatever it rebuilt.
class DestroyInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  // The engine kills the first container as it receives the request.
  TakesEffect takes_effect() const override { return TakesEffect::when_requested; }
  static VerbSpec spec();
};

}  // namespace firedrill
