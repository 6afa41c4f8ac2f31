#pragma once
// Undoing runs whose harness died (or that were left up): their faults reverted through the
// runtime they used, then what that runtime made released as its registry entry says
// (runtime_choice.hpp), then what they left on this machine's filesystem, all from the run's
// journal. Above the runtimes and the faults, since it needs both.
#include <set>
#include <string>

#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/journal.hpp"

namespace firedrill {

/// Removes what runs whose owner process is gone (same host, pid dead or reused) left behind: for
/// every such run the index of live runs lists, what its journal names, undone as `firedrill
/// cleanup` does (undo_run); those runs are then forgotten. Then what runtimes find by label
/// without a journal, of runs whose every owner is dead. Runs owned by a live process or another
/// host, or with no readable owner, are left alone; so are runs in `spared` (left up on purpose
/// with `--keep` or `up`) and runs whose journal says they were kept. Called at the start of
/// every `firedrill run` and `rehearse`, whatever the runtime: a runtime that cannot be reached
/// (an engine that does not answer, or a refused DOCKER_HOST) is neither an error nor waited for;
/// runs that need it are left for `firedrill cleanup`.
CleanupReport reap_orphaned_runs(const std::set<std::string>& spared = {});

/// Reverts the faults the run's journal says are still applied, newest first, through the runtime
/// the run used. One that cannot be reverted is noted, not an error: removing the run's
/// resources undoes it.
void revert_journalled_faults(const JournalState& run, CleanupReport& report);

/// Undoes one run from its journal: revert_journalled_faults, then its runtime's release (throws
/// EnvironmentError when that runtime cannot be reached), then release_journalled_files. Does not
/// forget the run: the caller does once it is satisfied.
CleanupReport undo_run(const JournalState& run);

/// What each runtime finds labelled with run_id, journalled or not (its journal may be gone),
/// removed. A runtime that cannot be reached is passed over, unless `must_reach`: then it throws
/// EnvironmentError.
CleanupReport release_labelled_run(const std::string& run_id, bool must_reach);

}  // namespace firedrill
