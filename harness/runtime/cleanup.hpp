#pragma once
// Removing what runs left in the Docker engine, found by the labels every resource carries
// (runtime.hpp labels::*), so it works for runs whose process died.
#include <filesystem>
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
/// label when all=true), then releases the run's size-limited filesystems. Throws
/// EnvironmentError when the engine cannot be reached.
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

/// Where the docker runtime keeps size-limited filesystems on the host:
/// /var/lib/firedrill/mounts/<run-id>/<service>, so they are found without the run's journal.
std::filesystem::path size_limited_mount_root();
std::filesystem::path size_limited_mount_directory(const std::string& run_id, const std::string& service);

/// True when `directory` is the root of a mounted filesystem.
bool is_mount_point(const std::filesystem::path& directory);

/// Unmounts one directory under size_limited_mount_root() (lazily: a container still holding it
/// keeps its view until it is removed) and removes it. True when it existed; what could not be
/// undone is appended to `errors`. Paths outside the root are refused, never touched.
bool release_size_limited_mount(const std::filesystem::path& directory, std::vector<std::string>& errors);

/// Releases every size-limited filesystem of run_id (of every run when all=true); returns how many.
int release_size_limited_mounts(const std::string& run_id, bool all, std::vector<std::string>& errors);

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
