#pragma once
// Postgres restore from a base backup and the WAL archive, with point-in-time recovery: the
// basebackup half of the `restore` action.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/actions/action.hpp"

namespace firedrill {

/// The backup `id` of `service` in the repository, or with `latest` its newest one made with
/// `method` (empty: pg_basebackup or pgbackrest), refused when this run's `history` records a
/// newer one of those written there (see refuse_rolled_back). Throws ActionFailed when there is none.
std::filesystem::path find_base_backup(const std::filesystem::path& repository, const std::string& id,
                                       const std::string& service, const std::string& method = "",
                                       const std::vector<Event>& history = {});

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
