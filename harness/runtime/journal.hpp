#pragma once
// The run's crash-safe journal (journal.jsonl in the run directory): every resource is written
// here before it is created and every fault's inverse before the fault is applied, each line
// fsync'd. `firedrill cleanup` reads it after the owner died. An index of live runs lives in the
// state directory so `cleanup --all` finds journals wherever the runs were written.
#include <filesystem>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// Where firedrill keeps its index of live runs: $FIREDRILL_STATE_DIR, else /var/lib/firedrill as
/// root, else $XDG_STATE_HOME/firedrill (default ~/.local/state/firedrill).
std::filesystem::path state_directory();

class Journal {
 public:
  /// Creates run_dir/journal.jsonl, writes the `begin` entry and registers the run in the index.
  Journal(const std::filesystem::path& run_dir, const std::string& run_id, const std::string& scenario,
          const Owner& owner);

  void record_create(const std::string& kind, const std::string& name);
  /// Journals a fault's inverse; returns its id for mark_reverted.
  std::string record_inverse(const nlohmann::json& inverse);
  void mark_reverted(const std::string& id);
  /// The run tore down cleanly: writes `end` and removes the run from the index.
  void finish();
  /// The environment is left up on purpose (`--keep`, `up`): the reaper must spare it.
  void mark_kept();

 private:
  void append(nlohmann::json entry, bool durably = true);

  std::mutex mutex_;
  std::filesystem::path path_;
  std::filesystem::path index_entry_;
  int next_fault_ = 1;
};

/// What a journal says a dead run left behind.
struct JournalState {
  std::string run_id;
  std::string scenario;
  std::optional<Owner> owner;
  std::filesystem::path run_dir;
  bool finished = false;
  bool kept = false;  // left up on purpose; removed only by `down` or `cleanup`
  std::vector<nlohmann::json> unreverted_inverses;  // oldest first
  std::vector<std::pair<std::string, std::string>> created;  // (kind, name)
  /// Why the journal must not be acted on, "" when it may: its index entry, run directory or
  /// journal could have been written by another user (cleanup would revert bytes, kill
  /// processes and remove paths it names, as root).
  std::string untrusted;
};

/// True for the syntax of a run id (new_run_id: `20261201-214547-3f9a1c07b2e4d658`; runs of older versions end in four digits). Commands that take a
/// run id refuse anything else: it becomes a path in the state directory and a label filter.
bool is_run_id(std::string_view text);

/// Why a file or directory firedrill is about to trust could have been written by another
/// user, "" when it could not: a symlink, an owner other than this user (or root), write
/// permission for others (or for a group not ours), or a parent directory others may rename
/// entries in (writable by them without the sticky bit).
std::string written_by_others(const std::filesystem::path& path);

/// Reads a journal; tolerates a torn last line (the owner may have died mid-write).
JournalState read_journal(const std::filesystem::path& journal_file);

/// The journals of the runs the index lists as live (including dead owners'), by run id.
std::vector<JournalState> indexed_runs();

/// The ids of indexed runs left up on purpose, for the reaper to spare.
std::set<std::string> kept_runs();

/// Removes a run from the index (after cleanup undid it).
void forget_run(const std::string& run_id);

/// True when the run's journal names a resource of one of these kinds.
bool journal_names(const JournalState& run, std::initializer_list<const char*> kinds);
/// The run started processes (the process runtime).
bool uses_processes(const JournalState& run);
/// The run's journal names an owner of this host that is gone.
bool owner_dead(const JournalState& run);

}  // namespace firedrill
