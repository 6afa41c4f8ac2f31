#pragma once
// How a drill runs: where its runs go, what people see and do, how long services may take.
#include <chrono>
#include <filesystem>
#include <string>

#include "harness/rehearse/progress.hpp"

namespace firedrill {

class Operator;  // harness/rehearse/operator.hpp

struct DrillOptions {
  std::filesystem::path out_dir = "firedrill-runs";
  bool keep = false;  // leave the environment up after the drill (for inspection)
  ProgressStyle progress = ProgressStyle::lines;
  std::string progress_prefix;  // before every progress line, e.g. "[app-crash #2] " when drills run at once
  std::chrono::milliseconds ready_timeout{90'000};  // per service
  std::string mode = "run";                         // run | rehearsal
  /// Rehearsal: the person who performs the manual steps (and the actions that carry `manual:`),
  /// also the drill's progress view. Null in `run`: manual steps are recorded as skipped.
  Operator* human = nullptr;
  bool auto_actions = false;  // rehearsal: actions run by themselves even when they carry `manual:`
};

}  // namespace firedrill
