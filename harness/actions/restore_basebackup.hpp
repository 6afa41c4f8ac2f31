#pragma once
// Postgres restore from a base backup and the WAL archive, with point-in-time recovery: the
// basebackup half of the `restore` action.
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/actions/action.hpp"

namespace firedrill {

/// The backup `id` of `service` in the repository, or with `latest` its newest one made with
/// `method` (empty: pg_basebackup or pgbackrest), refused when this run's `history` records a
/// newer one of those written there (see refuse_rolled_back). Throws ActionFailed when there is none.
std::filesystem::path find_base_backup(const std::filesystem::path& repository, const std::string& id,
                                       const std::string& service, const std::string& method = "",
                                       const std::vector<Event>& history = {});

/// A line the restored server prints when a phase of the restore ends, and that phase's name.
struct LogMilestone {
  std::string phase;
  std::string line;
};

/// Waits until `service`'s log has passed each milestone, in order, calling `passed(phase)` as
/// each one is seen (polled every 20 ms). Only the log's last lines are read while waiting: a
/// container may print without end, and reading all of it 50 times a second would cost the
/// harness what the container chooses. A later milestone in view passes the earlier ones whose
/// lines scrolled out between two polls. Throws ActionFailed with `why_stopped(the whole log)`
/// when the service stops first, or naming the milestone when the deadline passes.
void await_log_milestones(Runtime& runtime, const Clock& clock, const std::string& service,
                          const std::vector<LogMilestone>& milestones, Micros deadline,
                          const std::function<void(const std::string& phase)>& passed,
                          const std::function<std::string(const std::string& logs)>& why_stopped);

/// Restores the base backup `folder` into a fresh container of the postgres target, replaying the
/// service's WAL archive to the step's target (`to`, `before`; see recovery_target.hpp) or to
/// its end, then promoting. The service comes back under its name, address and published ports,
/// so the app and the harness reconnect to it. Before the old container goes, a running server is
/// asked to archive its current segment. Refuses, with the reason, a target before the backup
/// ended, a backup taken without WAL archiving, an archive with a gap, and reports an archive that
/// ends before the target. Records restore.started / restore.finished with the phases (checksum,
/// decrypt, archive (fence and final segment), container (the old one removed, the fresh one
/// started), fetch, restore (base backup laid down), replay, start, verify; seconds each) and
/// returns them with
/// the target, the point recovery stopped at (from the server's log) and the row counts.
/// A pgbackrest backup (method pgbackrest in its manifest) takes the same path with `pgbackrest
/// restore --set=<its label>` laying the data directory down and writing the recovery settings
/// (--type=time or xid with --target-exclusive and --target-action=promote; none for the end of
/// the archive); its fetch phase is finding the set through the repository's mount in the fresh
/// container, and its restore phase is pgbackrest's restore.
nlohmann::json restore_basebackup(ActionContext& context, const StepSpec& step, const std::filesystem::path& folder,
                                  Micros deadline);

}  // namespace firedrill
