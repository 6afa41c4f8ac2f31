#pragma once
// The rehearsal's full-screen view as a pure function: a state in, the lines of an 80×24 (or
// larger) terminal out. The terminal driver (console.cpp) only paints what this returns.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "core/model.hpp"

namespace firedrill {

/// Everything the view shows, taken at one instant.
struct ScreenState {
  std::string scenario;
  std::string run_id;
  std::string phase = "starting";      ///< starting | drill | finishing
  Micros now = 0;
  std::optional<Micros> incident_at;   ///< the RTO clock runs from here
  std::optional<Micros> recovered_at;  ///< and stops here (an `await: recovered` step succeeded)
  std::optional<Duration> rto_target;  ///< overall RTO objective

  std::size_t step_index = 0;  ///< 0-based
  std::size_t step_count = 0;
  std::string step_name;       ///< empty before the first step
  Micros step_started = 0;
  bool human = false;          ///< the current step waits for a person
  std::optional<Duration> budget;
  std::string instruction;
  std::vector<std::string> commands;
  std::string until;
  bool automatable = false;

  std::vector<std::pair<std::string, bool>> probes;
  double acked_per_second = 0;
  double failed_per_second = 0;
  std::int64_t acked = 0;
  std::int64_t failed = 0;
  std::vector<std::string> last_events;  ///< oldest first
  bool help = false;
};

/// Exactly `height` lines, each at most `width` columns wide once its ANSI SGR sequences are
/// left out. Red marks an exceeded budget, failing probes and failing writes.
std::vector<std::string> render_screen(const ScreenState& state, int width = 80, int height = 24);

/// The columns `line` takes on a terminal: UTF-8 code points, ANSI escape sequences excluded.
std::size_t visible_width(const std::string& line);

/// `line` without its ANSI escape sequences.
std::string strip_ansi(const std::string& line);

/// m:ss.t (or h:mm:ss past an hour) of a duration in microseconds.
std::string clock_text(Micros elapsed);

/// One line describing an event for the view's log, e.g. "00:12.4 probe app-health down".
std::string event_line(const Event& event, Micros since);

}  // namespace firedrill
