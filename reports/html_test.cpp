#include "reports/html.hpp"
#include "reports/registry.hpp"

#include <unistd.h>

#include <fstream>
#include <regex>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

const std::filesystem::path fixture_run = std::filesystem::path(FIREDRILL_SOURCE_DIR) / "reports/testdata/run";

RunRecord fixture() {
  std::ifstream in(fixture_run / "report.json");
  return load_run_record(fixture_run, nlohmann::json::parse(in));
}

std::size_t occurrences(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

TEST(ReportHtml, ScenarioTextCannotInjectMarkup) {
  RunRecord run = fixture();
  const std::string attack = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
  run.report.scenario.name = attack;
  run.report.scenario.description = attack;
  run.report.scenario.runbook = attack;
  run.report.reasons.push_back(attack);
  run.report.checks[0].name = attack;
  run.report.checks[0].detail = attack;
  run.report.steps[0].name = attack;
  run.report.faults[0].target = attack;
  run.report.environment->services[0].image = attack;
  run.report.components[attack] = run.report.components["db"];
  for (auto& event : run.events)
    if (event.kind == event_kind::probe) event.details["probe"] = attack;

  std::string html = render_html(run);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("\"'&\""), std::string::npos);
  EXPECT_GE(occurrences(html, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&quot;&#39;&amp;"), 10u);
}

TEST(ReportHtml, ThePageLoadsNothingFromAnywhere) {
  std::string html = render_html(fixture());
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  // The only URL is the SVG namespace, which is a name, not a fetch.
  std::regex url("(https?:)?//[a-z]");
  std::string rest = std::regex_replace(html, std::regex("xmlns=\"http://www.w3.org/2000/svg\""), "");
  EXPECT_FALSE(std::regex_search(rest, url));
  EXPECT_NE(html.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
}

TEST(ReportHtml, TheTimelineShowsFaultsProbesWritesLossesAndPhases) {
  RunRecord run = fixture();
  ASSERT_EQ(run.lost_ack_ids, (std::set<std::string>{"20261125-162459-b9c6-orders-298", "20261125-162459-b9c6-orders-299"}));
  std::string html = render_html(run);
  EXPECT_EQ(occurrences(html, "<svg class=\"timeline\""), 1u);
  EXPECT_EQ(occurrences(html, "<rect class=\"fault\""), 1u);
  EXPECT_NE(html.find("fault: kill db"), std::string::npos);
  for (const char* probe : {"probe app-health", "probe db-sql", "probe cache-ping"}) EXPECT_NE(html.find(probe), std::string::npos) << probe;
  EXPECT_GT(occurrences(html, "class=\"probe-down\""), 0u);
  EXPECT_GT(occurrences(html, "class=\"acked\""), 50u);
  EXPECT_GT(occurrences(html, "class=\"failed\""), 0u);
  // Both lost writes were acknowledged within the same 100 ms before T0.
  EXPECT_EQ(occurrences(html, "<path class=\"lost\""), 1u);
  EXPECT_NE(html.find("2 acknowledged writes lost"), std::string::npos);
  EXPECT_NE(html.find(">incident (T0)</text>"), std::string::npos);
  EXPECT_NE(html.find(">detected +26ms</text>"), std::string::npos);
  EXPECT_NE(html.find(">recovered +2.765s</text>"), std::string::npos);
}

TEST(ReportHtml, TheTablesCarryObjectivesStepsChecksLatencyBackupsAndEnvironment) {
  std::string html = render_html(fixture());
  EXPECT_NE(html.find("<header class=\"verdict fail\">\n<h1>FAIL — quickstart</h1>"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>db</td><td class=\"num ok\">2.765s</td><td class=\"num\">15.000s</td>"
                      "<td class=\"num bad\">29ms</td><td class=\"num\">0ms</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td>postgres dies</td><td>fault kill → db</td><td class=\"num\">T0+0ms</td>"), std::string::npos);
  EXPECT_NE(html.find("manual <span class=\"badge\">human step</span>"), std::string::npos);
  EXPECT_NE(html.find("Post the all-clear in #incidents"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"bad\">FAIL</td><td>2 of 710 acknowledged writes lost"), std::string::npos);
  EXPECT_NE(html.find("<tr><td>during kill db</td>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"num\">70.6 %</td><td class=\"num\">541.2 ms</td>"), std::string::npos);
  EXPECT_NE(html.find("<td><code>20261125T162509Z-db</code></td><td>db</td><td>pg_basebackup</td>"), std::string::npos);
  EXPECT_NE(html.find("backups/20261125T162509Z-db/manifest.json"), std::string::npos);
  EXPECT_NE(html.find("<tr><th>firedrill version</th><td>0.1.0</td></tr>"), std::string::npos);
  EXPECT_NE(html.find("<code>firedrill/postgres:15</code>"), std::string::npos);
}

TEST(ReportHtml, AReportWithoutHistoryStillRenders) {
  RunRecord run;
  run.report = report_from_json({{"verdict", "fail"}, {"scenario", {{"name", "early"}}}, {"reasons", {"never became ready"}}});
  std::string html = render_html(run);
  EXPECT_NE(html.find("<h1>FAIL — early</h1>"), std::string::npos);
  EXPECT_NE(html.find("No history was recorded"), std::string::npos);
  EXPECT_EQ(html.rfind("</html>\n"), html.size() - 8);
}

TEST(ReportHtml, EveryRunWritesReportHtml) {
  auto dir = std::filesystem::temp_directory_path() / ("firedrill-html-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const char* name : {"events.jsonl", "acks.jsonl", "readback.jsonl"})
    std::filesystem::copy_file(fixture_run / name, dir / name, std::filesystem::copy_options::overwrite_existing);
  std::ifstream in(fixture_run / "report.json");
  write_report_files(dir, nlohmann::json::parse(in));
  std::ifstream page(dir / "report.html");
  std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  EXPECT_NE(html.find("<path class=\"lost\""), std::string::npos) << "the history beside report.json was read";
}

TEST(ReportHtml, AnHourLongDrillGetsWiderBarsNotAHugePage) {
  RunRecord run;
  run.report = report_from_json({{"verdict", "pass"}, {"scenario", {{"name", "long"}}}});
  const Micros start = parse_rfc3339("2026-11-25T12:00:00Z");
  for (int i = 0; i < 3600 * 20; ++i) {
    Ack ack;
    ack.id = "w-" + std::to_string(i + 1);
    ack.writer = "w";
    ack.sent = start + static_cast<Micros>(i) * 50'000;
    ack.acked = ack.sent + 2'000;
    ack.outcome = WriteOutcome::ok;
    run.acks.push_back(ack);
  }
  std::string html = render_html(run);
  EXPECT_NE(html.find("writes per 5 s"), std::string::npos);
  EXPECT_LE(occurrences(html, "class=\"acked\""), 1200u);
  EXPECT_GE(occurrences(html, "class=\"acked\""), 700u);
  EXPECT_LT(html.size(), 400'000u);
}

TEST(ReportHtml, ADamagedHistoryStillLeavesEveryReport) {
  auto dir = std::filesystem::temp_directory_path() / ("firedrill-html-damaged-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "events.jsonl") << "{\"t\": \"not a time\", \"kind\": \"probe\"}\n";
  std::ifstream in(fixture_run / "report.json");
  write_report_files(dir, nlohmann::json::parse(in));
  bool all_written = true;
  for (const auto& [format, writer] : report_writers()) all_written = all_written && std::filesystem::exists(dir / writer.file_name);
  std::ifstream page(dir / "report.html");
  std::string html((std::istreambuf_iterator<char>(page)), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  EXPECT_TRUE(all_written);
  EXPECT_NE(html.find("<h1>FAIL — quickstart</h1>"), std::string::npos);
}

}  // namespace
}  // namespace firedrill
