#pragma once
// Undoing runs whose harness died (or that were left up): their faults reverted through the
// runtime they used, their processes stopped, their rules, mounts, cgroups and staging
// directories released, their labelled engine resources removed, all from the run's journal.
// Above the runtimes and the faults, since it needs both.
#include <set>
#include <string>

#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/journal.hpp"

namespace firedrill {

/// Removes what runs whose owner process is gone (same host, pid dead or reused) left behind: the
/// engine's labelled resources, and for every such run the index of live runs lists, what its
/// journal names, undone as `firedrill cleanup` does (cleanup_journalled_run); those runs are then
/// forgotten. Runs owned by a live process or another host, or with no readable owner, are left
/// alone; so are runs in `spared` (left up on purpose with `--keep` or `up`) and runs whose journal
/// says they were kept. Called at the start of every `firedrill run` and `rehearse`, whatever the
/// runtime: an unusable engine (unreachable, or a refused DOCKER_HOST) is neither an error nor
/// waited for; runs that need it are left for `firedrill cleanup`.
CleanupReport reap_orphaned_runs(const std::set<std::string>& spared = {});

/// Reverts the faults the run's journal says are still applied, newest first, through the runtime
/// the run used (process when it journalled processes, else docker). One that cannot be reverted
/// is noted, not an error: removing the run's resources undoes it.
void revert_journalled_faults(const JournalState& run, CleanupReport& report);

/// Stops the processes the run's journal names (by their pid files: the recorded group only while
/// its start time matches, never a reused pid) and releases every size-limited filesystem it
/// journalled (kind "mount"). What could not be undone goes to report.errors.
void release_journalled_resources(const JournalState& run, CleanupReport& report);

/// Undoes one dead run from its journal: revert_journalled_faults, its labelled engine resources
/// (when it journalled any; `api` null means no engine answers, an error for such a run), then
/// release_journalled_resources. Does not forget the run: the caller does once it is satisfied.
CleanupReport cleanup_journalled_run(const JournalState& run, const docker::EngineApi* api);

}  // namespace firedrill
