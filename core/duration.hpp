#pragma once
// Durations and rates as a scenario writes them: "250ms", "1h30m", "200/s".
#include <string>
#include <string_view>

#include "core/model.hpp"

namespace firedrill {

/// The longest duration a scenario may write; anything longer is a range error.
inline constexpr Duration max_scenario_duration = std::chrono::hours(720);

/// Parses "250ms", "5s", "2m", "1h", "1.5s", "0s", "100us" and concatenations such as "1h30m".
/// Fractions are rounded to the nearest microsecond. Throws std::invalid_argument whose message
/// quotes the text and says what is accepted, or that the value exceeds max_scenario_duration.
Duration parse_duration(std::string_view text);

/// The shortest text parse_duration reads back as `d`: "250ms", "3s", "2m", "1h30m", "1.5s",
/// "0s"; below a millisecond in "us".
std::string format_duration(Duration d);

/// Parses a write rate: "200/s", "30/m", "3600/h" or "max" (returned as 0: as fast as possible).
/// Returns writes per second. Throws std::invalid_argument for anything else, for zero, and for
/// more than 1000000 per second.
double parse_rate(std::string_view text);

}  // namespace firedrill
