#pragma once
// Which runtime a command runs on: `--runtime auto|docker|process`.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/vocabulary.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// The runtime names `--runtime` accepts.
inline constexpr const char* runtime_choices = "auto | docker | process";

/// The runtime to use for `requested`: "docker" or "process" as they are; "auto" is docker when a
/// container engine answers (DOCKER_HOST honoured), else process. Throws std::invalid_argument
/// naming the choices for anything else.
std::string choose_runtime(const std::string& requested);

/// A runtime firedrill can run on: its name, what it can do beyond the core, how to make one, and
/// how to undo what a run left in it (`cleanup`, `down`, the reaper at the start of every run).
struct RuntimeEntry {
  std::string name;
  std::set<Capability> capabilities;
  /// A runtime of this kind; out_dir holds the run directories (a process runtime keeps its
  /// services' files there).
  std::function<std::unique_ptr<Runtime>(const std::filesystem::path& out_dir)> make;
  /// True when a run's journal names something this runtime made: the run is this runtime's to
  /// revert and release.
  std::function<bool(const JournalState& run)> made;
  /// Removes what the run made in this runtime, after its faults were reverted: what could not be
  /// removed goes to report.errors. Throws EnvironmentError when the runtime cannot be reached (an
  /// engine that does not answer), so the run is left for a later `cleanup`.
  std::function<void(const JournalState& run, CleanupReport& report)> release;
  /// Leftovers no journal names, found by the run's labels: runs whose every owner is dead, and
  /// the removal of one such run. Null for a runtime whose every resource is journalled. Both
  /// throw EnvironmentError when the runtime cannot be reached.
  std::function<std::set<std::string>()> orphaned_unjournalled_runs;
  std::function<CleanupReport(const std::string& run_id)> release_unjournalled;
};

/// Every runtime, by name: the one place a new runtime is registered.
const std::map<std::string, RuntimeEntry>& runtime_registry();

/// The runtime called `name`. Throws std::invalid_argument naming the choices for any other.
const RuntimeEntry& runtime_entry(const std::string& name);

/// The runtime whose resources the run's journal names; null when it names none (the run made
/// nothing a runtime must undo).
const RuntimeEntry* runtime_of(const JournalState& run);

/// What `runtime` can do beyond the core, as its capability interfaces say.
std::set<Capability> capabilities_of(Runtime& runtime);

/// The runtime called `name`; a process runtime keeps its services in the run directories under
/// out_dir. Throws std::invalid_argument for any other name.
std::unique_ptr<Runtime> make_runtime(const std::string& name, const std::filesystem::path& out_dir);

}  // namespace firedrill
