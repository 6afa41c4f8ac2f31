#pragma once
// Removing what runs left behind, the parts every runtime shares: what is in the Docker engine,
// found by the labels every resource carries (runtime.hpp labels::*), and the size-limited
// filesystems and staging directories a run's journal names. Undoing a whole dead run (its
// faults, processes and rules too) is engine/run_cleanup.hpp, which knows every runtime and fault.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/runtime/docker/engine_api.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

struct CleanupReport {
  std::vector<std::string> runs;  // run ids whose resources were found, sorted
  ResourceCounts removed;
  std::vector<std::string> errors;  // one line per resource that could not be removed
  std::vector<std::string> notes;   // one line per thing undone from a journal, for a person to read

  /// Adds what `part` found, removed, failed and noted.
  void merge(const CleanupReport& part);
};

/// Removes every container, volume and network labelled with run_id (or with any io.firedrill.run
/// label when all=true), then releases the run's size-limited filesystems. Throws
/// EnvironmentError when the engine cannot be reached.
CleanupReport cleanup_docker(const std::string& run_id, bool all);

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

/// Releases what a run's journal names on this machine's filesystem whatever its runtime: every
/// journalled mount (release_journalled_mount) and every staging directory of decrypted backups,
/// so no plaintext outlives the run. What could not be undone goes to report.errors.
void release_journalled_files(const JournalState& run, CleanupReport& report);

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
/// Every run that has a labelled resource in the engine -> true when each of its resources names
/// an owner on this host and none of them is alive (the run is orphaned).
std::map<std::string, bool> labelled_runs_by_owner_death(const EngineApi& api);

}  // namespace docker
}  // namespace firedrill
