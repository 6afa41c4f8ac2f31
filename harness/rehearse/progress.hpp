#pragma once
// What a person sees while a drill runs: on a TTY one live status line (current step, elapsed,
// probe state, writes acked/failed); otherwise one plain line per event worth a line.
#include <functional>
#include <memory>
#include <string>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "core/model.hpp"

namespace firedrill {

enum class ProgressStyle { none, lines, live };

class Progress {
 public:
  virtual ~Progress() = default;
  virtual void note(const std::string& text) = 0;
  virtual void step(std::size_t index, const StepSpec& step) = 0;
  virtual void step_done(std::size_t index, const StepSpec& step, const std::string& outcome, const std::string& error) = 0;
  /// The live line's source of probe and write figures (set once the observers run).
  virtual void set_status(std::function<std::string()> status) = 0;
  virtual void finish() = 0;
};

/// `prefix` starts every line (lines style only: several drills at once share one terminal).
std::unique_ptr<Progress> make_progress(ProgressStyle style, const Scenario& scenario, const Clock& clock,
                                        const std::string& prefix = "");

}  // namespace firedrill
