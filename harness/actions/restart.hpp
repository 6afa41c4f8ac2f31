#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// `restart`: stops the target (TERM, then KILL after `grace`) if it runs, and starts it again;
/// a killed container is simply started. Returns once the engine reports it running.
class RestartAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
