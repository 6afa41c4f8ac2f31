#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// `restore`: restores a pg_dump backup of the target (`backup: ID|latest`) into the target
/// itself. The database (`database`, default the one backed up) is dropped with its connections
/// and created afresh, then pg_restore fills it; its row counts must equal the manifest's.
/// Records restore.started and restore.finished with phase timings (checksum, decrypt, copy,
/// restore, verify). A redis target takes an rdb backup instead (restore_redis.hpp): stopped,
/// its AOF moved aside, the RDB laid down as its data and AOF base, started, sampled keys checked.
/// A base backup (`method: basebackup`, `to`, `before`, or a basebackup id) is restored with
/// WAL replay into a fresh container of the target: restore_basebackup.hpp.
class RestoreAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
