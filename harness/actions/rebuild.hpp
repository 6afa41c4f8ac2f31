#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// `rebuild`: brings a destroyed service back as a new, empty container (same name, address and
/// published ports) and returns once it answers — the "provision new infrastructure" step of a
/// complete-loss runbook. Its data comes back only through a later `restore`.
class RebuildAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
