#pragma once
// The process runtime's part in undoing a run (`cleanup`, `down`, the reaper at the start of
// every run): its services' process groups, found by their pid files, and their cgroups.
// runtime_choice.cpp registers it.
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/journal.hpp"

namespace firedrill {

/// True when the run's journal names a process or a service's cgroup.
bool made_by_processes(const JournalState& run);

/// Stops the processes the run's journal names (by their pid files: the recorded group only while
/// its start time matches, never a reused pid) and kills and removes the cgroups it journalled.
/// What could not be undone goes to report.errors.
void release_process_run(const JournalState& run, CleanupReport& report);

}  // namespace firedrill
