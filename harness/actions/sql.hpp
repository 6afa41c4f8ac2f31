#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// The event a `sql` step records once its statement committed: step, service, database, xid
/// (the 32-bit id of its transaction), committed_at. A point-in-time restore `before:` that step
/// stops just before that transaction.
inline constexpr const char* sql_executed_event = "sql.executed";

/// `sql`: runs one statement (`sql`) in its own transaction on the target postgres, as the
/// service's superuser, in `database` (default the service's): the destructive step of a drill
/// (`DROP TABLE orders`, a bad migration) or a runbook's repair. Records sql_executed_event.
/// With `expect_error` it is a detection step instead: the statement must fail with an error
/// containing that text (e.g. "invalid page" from a checksum failure); it then succeeds with the
/// error in its details and a sql.failed_as_expected event, and fails otherwise.
/// The password goes to the server only, never into an event, a detail or an error.
class SqlAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
