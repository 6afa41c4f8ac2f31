// Every writer's output for a fixed fixture run (reports/testdata/run) against an approved copy
// in reports/testdata/golden/, with timestamps and durations masked so that only what a reader
// would call a change fails. FIREDRILL_UPDATE_GOLDEN=1 rewrites the approved copies.
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "reports/golden_support.hpp"
#include "reports/registry.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

const std::filesystem::path source_dir = FIREDRILL_SOURCE_DIR;
const std::filesystem::path fixture_run = source_dir / "reports/testdata/run";
const std::filesystem::path golden_dir = source_dir / "reports/testdata/golden";

using golden::read_file;

RunRecord fixture() { return load_run_record(fixture_run, nlohmann::json::parse(read_file(fixture_run / "report.json"))); }

/// Timestamps become {timestamp}; durations ("2.765s", "T0−3.000s", "12ms", "12m34s", JSON
/// *_seconds values and *_seconds samples) become {duration}.
std::string mask(std::string text) {
  static const std::regex timestamp(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))");
  static const std::regex duration(R"((T0)?(\+|−|-)?\b\d+(\.\d+)?(ms|s|m\d+s)\b)");
  static const std::regex json_seconds(R"(("\w+_seconds": )-?\d+(\.\d+)?(e-?\d+)?)");
  static const std::regex sample_seconds(R"((_seconds\{[^}]*\} )\S+)");
  text = std::regex_replace(text, timestamp, "{timestamp}");
  text = std::regex_replace(text, json_seconds, "$1{duration}");
  text = std::regex_replace(text, sample_seconds, "$1{duration}");
  return std::regex_replace(text, duration, "{duration}");
}

/// report.json's shape: one line per path with its JSON type; array elements are merged under
/// `[]`, map-like objects keyed by user names (components) under `{name}`.
void shape_of(const nlohmann::json& value, const std::string& path, std::set<std::string>& lines) {
  lines.insert(path + ": " + value.type_name());
  if (value.is_object()) {
    bool by_name = path == "components";
    for (const auto& [key, child] : value.items()) shape_of(child, path + (path.empty() ? "" : ".") + (by_name ? "{name}" : key), lines);
  } else if (value.is_array()) {
    for (const auto& child : value) shape_of(child, path + "[]", lines);
  }
}

std::string shape(const nlohmann::json& report) {
  std::set<std::string> lines;
  shape_of(report, "", lines);
  std::string text;
  for (const auto& line : lines)
    if (line.rfind(": ", 0) != 0) text += line + "\n";
  return text;
}

void expect_matches_golden(const std::string& name, const std::string& actual) { golden::expect_matches(golden_dir, name, actual); }

TEST(GoldenReports, EveryWriterHasAGoldenCopy) {
  for (const auto& [format, writer] : report_writers())
    EXPECT_TRUE(std::filesystem::exists(golden_dir / writer.file_name) || std::getenv("FIREDRILL_UPDATE_GOLDEN"))
        << format << " (" << writer.file_name << ") has no golden copy";
}

TEST(GoldenReports, ReportHtml) { expect_matches_golden("report.html", mask(report_writers().at("html").render(fixture()))); }
TEST(GoldenReports, SummaryMd) { expect_matches_golden("summary.md", mask(report_writers().at("markdown").render(fixture()))); }
TEST(GoldenReports, JunitXml) { expect_matches_golden("junit.xml", mask(report_writers().at("junit").render(fixture()))); }
TEST(GoldenReports, MetricsProm) { expect_matches_golden("metrics.prom", mask(report_writers().at("openmetrics").render(fixture()))); }
TEST(GoldenReports, ReportJson) { expect_matches_golden("report.json", mask(report_writers().at("json").render(fixture()))); }

TEST(GoldenReports, ReportJsonShape) {
  auto run = fixture();
  expect_matches_golden("report.json.shape", shape(nlohmann::json(run.report)));
}

// The fields DESIGN.md promises in report.json, whatever else the golden shape holds.
TEST(GoldenReports, TheShapeHoldsEveryFieldTheContractPromises) {
  std::string text = shape(nlohmann::json(fixture().report));
  for (const char* line :
       {"schema: string", "run_id: string", "scenario.name: string", "scenario.file: string", "scenario.sha256: string",
        "verdict: string", "started_at: string", "finished_at: string", "incident_at: string", "measured.rto_seconds: number",
        "measured.rpo_seconds: number", "measured.downtime_seconds: number", "measured.detect_seconds: number",
        "measured.acked_writes: number", "measured.lost_acked_writes: number", "components.{name}.rto.measured_seconds: number",
        "components.{name}.rto.target_seconds: number", "components.{name}.rto.met: boolean", "checks[].name: string",
        "checks[].passed: boolean", "checks[].detail: string", "faults[].type: string", "faults[].target: string",
        "faults[].injected_at: string", "faults[].reverted_at: string", "steps: array", "environment.runtime: string",
        "environment.services[].image: string", "environment.services[].image_id: string",
        "environment.firedrill_version: string", "environment.host: string", "artifacts[].path: string", "artifacts[].sha256: string"})
    EXPECT_NE(text.find(std::string(line) + "\n"), std::string::npos) << line;
}

TEST(GoldenReports, TheJunitOfARunThatNeverFinished) {
  expect_matches_golden("junit.unfinished.xml", render_unfinished_junit("quickstart", "20261125-162459-b9c6"));
}

TEST(GoldenReports, MaskingHidesTimesButNotContent) {
  EXPECT_EQ(mask("at 2026-11-25T16:24:59.270955Z took 2.765s (T0−3.000s, +26ms, 12m34s) of 710 writes"),
            "at {timestamp} took {duration} ({duration}, {duration}, {duration}) of 710 writes");
  EXPECT_EQ(mask(R"("rto_seconds": 2.764849, "acked_writes": 710)"), R"("rto_seconds": {duration}, "acked_writes": 710)");
  EXPECT_EQ(mask("firedrill_rto_seconds{scenario=\"q\"} 2.764849\nfiredrill_lost_acked_writes{scenario=\"q\"} 2"),
            "firedrill_rto_seconds{scenario=\"q\"} {duration}\nfiredrill_lost_acked_writes{scenario=\"q\"} 2");
}

}  // namespace
}  // namespace firedrill
