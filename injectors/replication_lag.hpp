#pragma once
#include "injectors/injector.hpp"

namespace firedrill {

/// `replication-lag` on a Postgres standby, until `duration` passes or teardown. `mode: stream`
/// (the default) stops its WAL receiver (`ALTER SYSTEM SET primary_conninfo = ''` and a reload):
/// commits the primary acknowledges do not reach the standby, so a failover during the fault
/// loses them — RPO > 0 on purpose. `mode: replay` pauses replay (`pg_wal_replay_pause()`): the
/// standby's data and pg_last_xact_replay_timestamp() fall behind, but it keeps receiving WAL, and
/// a promotion replays all it received first, so a failover loses nothing. Returns once the
/// receiver is gone / replay is paused. Reverting resets primary_conninfo / resumes replay (a
/// standby promoted meanwhile is left alone).
class ReplicationLagInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  /// The inverse it journals, which `firedrill cleanup` reverts with revert_inverse.
  static constexpr const char* journalled_inverse = "replication-lag";
  static void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);
  static VerbSpec spec();
};

namespace replication_lag {

/// Undoes a journalled inverse {type: replication-lag, service, mode} (used by
/// revert_from_journal). A service that no longer runs has nothing to undo.
void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);

}  // namespace replication_lag
}  // namespace firedrill
