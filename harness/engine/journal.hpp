#pragma once
// The run's crash-safe journal (journal.jsonl in the run directory): every resource is written
// here before it is created and every fault's inverse before the fault is applied, each line
// fsync'd. `firedrill cleanup` reads it after the owner died. An index of live runs lives in the
// state directory so `cleanup --all` finds journals wherever the runs were written.
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
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
  void append(nlohmann::json entry);

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
};

/// Reads a journal; tolerates a torn last line (the owner may have died mid-write).
JournalState read_journal(const std::filesystem::path& journal_file);

/// The journals of the runs the index lists as live (including dead owners'), by run id.
std::vector<JournalState> indexed_runs();

/// The ids of indexed runs left up on purpose, for the reaper to spare.
std::set<std::string> kept_runs();

/// Removes a run from the index (after cleanup undid it).
void forget_run(const std::string& run_id);

}  // namespace firedrill
