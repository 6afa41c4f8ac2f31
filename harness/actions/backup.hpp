#pragma once
#include "harness/actions/action.hpp"

namespace firedrill {

/// `backup`: backs the target up into the backup repository, <repository>/<backup-id>/, with a
/// manifest.json (files with size and SHA-256, start/end time, LSN range or replication offsets,
/// row counts or key counts for verify-backup, tool versions).
/// Postgres: `method: pg_dump` (custom format, taken in one exported snapshot whose row counts go
/// into the manifest) or `method: basebackup` (pg_basebackup tar format with the WAL it needs;
/// continuous WAL archiving for point-in-time recovery is not part of it), or `method: pgbackrest`
/// (pgbackrest.conf written into the container, `stanza-create` on the first backup, then
/// `backup --type=full` as the postgres user into <repository>/pgbackrest/<service>; the
/// manifest's `files_root` points there and lists the set's files and the WAL segments it needs,
/// with the LSN and WAL range from `pgbackrest info`). pgbackrest takes no encrypt_key.
/// Redis: BGSAVE, waiting on INFO persistence for the save to finish, then the RDB file.
/// `encrypt_key: PATH` (a 0600 key file) encrypts each file with AES-256-GCM; only the key's id
/// is recorded. Records backup.started and backup.finished (with phase timings).
class BackupAction final : public Action {
 public:
  nlohmann::json run(ActionContext& context, const StepSpec& step) override;
  static VerbSpec spec();
};

}  // namespace firedrill
