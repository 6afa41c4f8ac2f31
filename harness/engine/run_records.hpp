#pragma once
// What every part of a drill writes to: the run's identity, its journal (what to undo), its
// history (events, acknowledgements), the secrets to keep out of them, the progress people see,
// and the reasons the drill failed beyond its checks.
#include <filesystem>
#include <string>
#include <vector>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "core/secrets.hpp"
#include "harness/rehearse/progress.hpp"
#include "harness/runtime/journal.hpp"

namespace firedrill {

struct RunRecords {
  std::string run_id;
  std::filesystem::path run_dir;
  const Clock& clock;
  Journal& journal;
  EventLog& events;
  AckLog& acks;
  SecretScrubber& secrets;
  Progress& progress;
  std::vector<std::string>& failures;
};

}  // namespace firedrill
