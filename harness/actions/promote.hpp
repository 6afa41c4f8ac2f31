#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// `promote`: turns the target standby into a primary (`SELECT pg_promote(false)`, the SQL form
/// of `pg_ctl promote`) and returns once it answers `pg_is_in_recovery()` = false, polled every
/// 20 ms within the step's `timeout` (default 60 s). Records promote.requested and
/// promote.completed with the seconds it took; a target that is not in recovery fails the step.
class PromoteAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
