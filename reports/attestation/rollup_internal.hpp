#pragma once
// What the roll-up's files share: the UTC calendar of periods and of a policy's windows (defined in
// rollup_period.cpp), a field of a verified predicate and the summary of a run (rollup.cpp).
// Private to the attestation library.
#include <cstdint>
#include <ctime>
#include <initializer_list>

#include <nlohmann/json.hpp>

namespace firedrill::attestation {

// Declared, not included: rollup.cpp includes this header, so including rollup.hpp here would have
// the two include each other, a circle the layer test refuses.
struct RunRecord;

/// Seconds since the epoch of 00:00 UTC on that day. Days and months out of range carry over (as
/// timegm does them), which is how a period's day that is not in the calendar is found.
std::int64_t utc_seconds(int year, int month, int day);
/// The UTC calendar time of seconds since the epoch.
std::tm utc_tm(std::int64_t seconds);
/// The first instant of the month `months` after the month holding seconds.
std::int64_t add_months(std::int64_t seconds, int months);

/// The value at keys inside json; null when a key is missing or what holds it is no object.
nlohmann::json at_path(const nlohmann::json& json, std::initializer_list<const char*> keys);
/// A run as the roll-up lists it: run id, scenario, start, result, attestation and mode.
nlohmann::json run_summary(const RunRecord& run);

}  // namespace firedrill::attestation
