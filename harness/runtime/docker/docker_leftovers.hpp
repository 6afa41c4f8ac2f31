#pragma once
// The Docker runtime's part in undoing a run (`cleanup`, `down`, the reaper at the start of every
// run): the engine's resources labelled with the run, the size-limited filesystems of its
// containers and the run's egress rule on the host. runtime_choice.cpp registers it.
#include <set>
#include <string>

#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/journal.hpp"

namespace firedrill::docker {

/// True when the run's journal names a container, network, volume or egress rule.
bool made_by_docker(const JournalState& run);

/// Removes the run's labelled containers, volumes and networks, its size-limited filesystems and
/// the egress rules its journal names. Throws EnvironmentError when no engine answers.
void release_docker_run(const JournalState& run, CleanupReport& report);

/// The runs with labelled resources whose every owner is a dead process of this host. Throws
/// EnvironmentError when no engine answers.
std::set<std::string> orphaned_labelled_runs();

}  // namespace firedrill::docker
