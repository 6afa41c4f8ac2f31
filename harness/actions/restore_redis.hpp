#pragma once
// Redis restore from an RDB backup, the redis half of the `restore` action.
#include <nlohmann/json.hpp>

#include "harness/actions/action.hpp"

namespace firedrill {

/// Restores the RDB backup `folder` (already found in the repository) into the redis target:
/// stops it (KILL: its data is replaced) when it runs, moves its AOF directory aside (kept as
/// appendonlydir.before-<backup id>), lays the backup's RDB down both as the RDB file and as the
/// base of a fresh AOF manifest (Redis 7 with appendonly yes starts empty, ignoring dump.rdb,
/// when it finds no AOF), starts it again and waits until it answers with the sampled keys of
/// the manifest present. Records restore.started / restore.finished with phase timings; throws
/// ActionFailed naming what failed.
nlohmann::json restore_redis(ActionContext& context, const StepSpec& step, const std::filesystem::path& folder,
                             Micros deadline);

}  // namespace firedrill
