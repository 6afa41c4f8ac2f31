#pragma once
// Removing what runs left behind: what is in the Docker engine, found by the labels every resource
// carries (runtime.hpp labels::*), and what a run's journal names (faults, processes of the process
// runtime, size-limited filesystems), so it works for runs whose process died.
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "harness/engine/journal.hpp"
#include "harness/runtime/engine_api.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

struct CleanupReport {
  std::vector<std::string> runs;  // run ids whose resources were found, sorted
  ResourceCounts removed;
  std::vector<std::string> errors;  // one line per resource that could not be removed
  std::vector<std::string> notes;   // one line per thing undone from a journal, for a person to read
};

/// Removes every container, volume and network labelled with run_id (or with any io.firedrill.run
/// label when all=true), then releases the run's size-limited filesystems. Throws
/// EnvironmentError when the engine cannot be reached.
CleanupReport cleanup_docker(const std::string& run_id, bool all);

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

/// Counts what is labelled with run_id (any run when run_id is empty). Throws EnvironmentError
/// when the engine cannot be reached.
ResourceCounts count_labelled(const std::string& run_id);

/// Where the docker runtime keeps size-limited filesystems on the host:
/// /var/lib/firedrill/mounts/<run-id>/<service>, so they are found without the run's journal.
std::filesystem::path size_limited_mount_root();

/// The journal's kind for a private directory of decrypted backup files (mkdtemp's
/// fd-staging-XXXXXX in the system's temporary directory).
inline constexpr const char* staging_kind = "staging";

/// True when directory has the form of a staging directory; `cleanup` removes a journalled
/// staging directory only then, so a journal cannot name any other directory for removal.
bool is_staging_directory(const std::filesystem::path& directory);

std::filesystem::path size_limited_mount_directory(const std::string& run_id, const std::string& service);

/// True when `directory` is the root of a mounted filesystem.
bool is_mount_point(const std::filesystem::path& directory);

/// Unmounts one directory under size_limited_mount_root() (lazily: a container still holding it
/// keeps its view until it is removed) and removes it. True when it existed; what could not be
/// undone is appended to `errors`. Paths outside the root are refused, never touched.
bool release_size_limited_mount(const std::filesystem::path& directory, std::vector<std::string>& errors);

/// Unmounts every filesystem stacked on `directory` (lazily), leaving the directory; false with a
/// line in `errors` when one stays. Callers name only mounts of their own.
bool unmount_stacked(const std::filesystem::path& directory, std::vector<std::string>& errors);

/// Releases a mount the run's journal names: one under size_limited_mount_root() as
/// release_size_limited_mount() does, or one in the run's own directory (the process runtime's
/// <run dir>/services/<service>/data) by unmounting it. Anything else is refused, never touched.
/// True when it was mounted or existed.
bool release_journalled_mount(const JournalState& run, const std::filesystem::path& directory,
                              std::vector<std::string>& errors);

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
