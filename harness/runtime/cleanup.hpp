#pragma once
// Removing what runs left in the Docker engine, found by the labels every resource carries
// (runtime.hpp labels::*), so it works for runs whose process died.
#include <set>
#include <string>
#include <vector>

#include "harness/runtime/engine_api.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

struct CleanupReport {
  std::vector<std::string> runs;  // run ids whose resources were found, sorted
  ResourceCounts removed;
  std::vector<std::string> errors;  // one line per resource that could not be removed
};

/// Removes every container, volume and network labelled with run_id (or with any io.firedrill.run
/// label when all=true). Throws EnvironmentError when the engine cannot be reached.
CleanupReport cleanup_docker(const std::string& run_id, bool all);

/// Removes the resources of runs whose owner process is gone (same host, pid dead or reused). Runs
/// owned by a live process or another host, or with no readable owner label, are left alone.
/// Runs in `spared` (left up on purpose with `--keep` or `up`) are kept too.
/// Called at the start of every `firedrill run`, whatever the runtime: an unusable engine
/// (unreachable, or a refused DOCKER_HOST) has nothing to reap and yields an empty report.
CleanupReport reap_orphaned_runs(const std::set<std::string>& spared = {});

/// Counts what is labelled with run_id (any run when run_id is empty). Throws EnvironmentError
/// when the engine cannot be reached.
ResourceCounts count_labelled(const std::string& run_id);

namespace docker {

/// Removes containers (forced, with their anonymous volumes), then volumes, then networks that
/// carry `label` ("key" or "key=value"). Already-gone resources are not errors; resources busy
/// for a moment (a container mid-restart, a network whose endpoints are being released) are
/// retried for a few seconds.
CleanupReport remove_labelled(const EngineApi& api, const std::string& label);

/// count_labelled() against an explicit engine.
ResourceCounts count_labelled(const EngineApi& api, const std::string& label);

}  // namespace docker
}  // namespace firedrill
