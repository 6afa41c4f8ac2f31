#pragma once
// What the files of report.html share: readers of the report's fields and times (defined in
// html.cpp), the clock the tables give times by, and the parts of the page render_html puts
// together: the timeline (html_timeline.cpp), the header and the tables (html_sections.cpp).
// Private to the reports library.
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "reports/writers.hpp"

namespace firedrill {

/// object[key]; null when object is no object or has no such key.
const nlohmann::json& field(const nlohmann::json& object, const char* key);
/// A string as itself, null as an empty string, anything else as its JSON.
std::string text_of(const nlohmann::json& value);
/// text_of, HTML-escaped.
std::string escaped(const nlohmann::json& value);
/// The time an RFC 3339 string gives; nothing for anything else.
std::optional<Micros> time_of(const nlohmann::json& value);
std::optional<Micros> time_at(const std::optional<std::string>& value);

/// "+2.765s" / "−3.000s"; what rounds to 0 is "+0ms", however early by microseconds.
std::string signed_seconds(Micros offset);

/// "T0+2.765s" / "T0−3.000s" relative to the incident, or "+1.000s" from the origin without one.
class RelativeTime {
 public:
  RelativeTime(std::optional<Micros> origin, bool is_incident) : origin_(origin), is_incident_(is_incident) {}
  std::string at(std::optional<Micros> t) const {
    if (!t || !origin_) return "–";
    std::string offset = signed_seconds(*t - *origin_);
    return is_incident_ ? "T0" + offset : offset;
  }

 private:
  std::optional<Micros> origin_;
  bool is_incident_;
};

/// The verdict, green when the drill ended as expected, with the scenario, the run and the reasons.
std::string verdict_banner(const Report& report);
std::string objectives_section(const Report& report);
/// The timeline of the recorded history, or a note that none was recorded.
std::string timeline_section(const RunRecord& run);
std::string steps_section(const Report& report, const RelativeTime& clock);
std::string checks_section(const Report& report);
/// Nothing when no write latency was measured before or during a fault.
std::string latency_section(const Report& report, const RelativeTime& clock);
/// Nothing when the run made no backup.
std::string backups_section(const RunRecord& run, const RelativeTime& clock);
/// Nothing when no fault was injected.
std::string faults_section(const Report& report, const RelativeTime& clock);
std::string environment_section(const Report& report);
/// The recorded files with their SHA-256, and what the page was written from.
std::string artifacts_footer(const Report& report);

}  // namespace firedrill
