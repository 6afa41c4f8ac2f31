#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "injectors/injector.hpp"

namespace firedrill {

/// `clock-skew`: the target's wall clock runs `offset` ahead (+90s) or behind (-5m) this
/// machine's, as after a bad NTP step, for the target's processes only: never this machine's
/// clock. The step prepares its service at bring-up: its processes start with firedrill's clock
/// library preloaded (fixtures/clock, in every firedrill image, and installed on this machine by
/// ci/setup for the process runtime) reading the offset from a file of the target's own,
/// /tmp/firedrill-clock, absent until the fault, so the clock is true until then; the fault
/// writes the offset there and reverting writes +0. Monotonic clocks stay true (timeouts and
/// intervals do not jump), as a stepped wall clock leaves them. Running processes read the file
/// at most once a second, so the fault returns once a second has passed and a new process in
/// the target shows the offset; the offset it showed, against this machine's clock, is in the
/// fault's details. Needs the target's files (a runtime with FileAccess).
class ClockSkewInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  /// The inverse it journals, which `firedrill cleanup` reverts with revert_inverse.
  static constexpr const char* journalled_inverse = "clock-skew";
  static void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);
  static VerbSpec spec();
  static void check_params(const StepSpec& step);
};

namespace clock_skew {

/// The file in the target the offset is written to (its /tmp).
inline constexpr const char* offset_file = "/tmp/firedrill-clock";

/// A signed offset as the scenario writes it: "+90s", "-5m", "90s" (ahead), in microseconds.
/// Throws std::invalid_argument naming the text.
std::int64_t parse_offset(const std::string& text);

/// The offset as the clock library reads it: signed seconds, "+90.000000" or "-300.500000".
std::string offset_words(std::int64_t offset_micros);

/// Reverts a journalled `clock-skew` inverse (used by revert_from_journal).
void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);

}  // namespace clock_skew
}  // namespace firedrill
