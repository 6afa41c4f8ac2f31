#include "reports/suite.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

namespace fs = std::filesystem;

constexpr Micros t0 = 1'795'000'000'000'000;  // 2026-11-18T...Z

nlohmann::json report_of(const std::string& scenario, const std::string& run_id, bool passed) {
  return {
      {"schema", "firedrill/report/v1"},
      {"run_id", run_id},
      {"scenario", {{"name", scenario}, {"file", "scenarios/" + scenario + ".yaml"}}},
      {"verdict", passed ? "pass" : "fail"},
      {"reasons", passed ? nlohmann::json::array() : nlohmann::json::array({"RTO 4.2s > target 3s"})},
      {"measured", {{"rto_seconds", passed ? 3.004 : 4.2}, {"rpo_seconds", 0.0}, {"lost_acked_writes", 0}}},
      {"components",
       {{"overall",
         {{"rto", {{"measured_seconds", passed ? 3.004 : 4.2}, {"target_seconds", 3.03}, {"met", passed}}},
          {"rpo", {{"measured_seconds", 0.0}, {"target_seconds", 0.0}, {"met", true}}}}}}},
      {"checks", nlohmann::json::array({{{"name", "rto overall"}, {"passed", passed}, {"detail", passed ? "3.004s <= 3.03s" : "4.2s > 3.03s"}},
                                        {{"name", "lost acked writes <= 0"}, {"passed", true}, {"detail", "0 lost"}}})},
  };
}

SuiteRun run_of(const std::string& scenario, int repetition, const std::string& run_id, int exit_code, nlohmann::json report,
                Micros started, double seconds) {
  SuiteRun run;
  run.scenario = scenario;
  run.scenario_file = "scenarios/" + scenario + ".yaml";
  run.repetition = repetition;
  run.run_id = run_id;
  run.run_dir = fs::path("runs") / run_id;
  run.exit_code = exit_code;
  run.started_at = started;
  run.finished_at = started + static_cast<Micros>(seconds * 1e6);
  if (!report.is_null()) run.report = report_from_json(report);
  return run;
}

/// Two repetitions of calibration (one passed, one missed its RTO), one app-crash that never
/// started (no report), run two at a time.
Suite mixed_suite() {
  Suite suite;
  suite.started_at = t0;
  suite.finished_at = t0 + 40'000'000;
  suite.parallel = 2;
  suite.exit_code = 3;
  suite.runs.push_back(run_of("calibration-pause", 1, "20261118-000000-aaaa", 0,
                              report_of("calibration-pause", "20261118-000000-aaaa", true), t0, 12.5));
  suite.runs.push_back(run_of("app-crash", 1, "", 3, nullptr, t0 + 1'000'000, 0.5));
  suite.runs.back().error = "image 'firedrill/app:latest' is not present";
  suite.runs.push_back(run_of("calibration-pause", 2, "20261118-000013-bbbb", 1,
                              report_of("calibration-pause", "20261118-000013-bbbb", false), t0 + 13'000'000, 14.0));
  return suite;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

TEST(Suite, JsonListsEveryRunWithItsFiguresAndTotals) {
  const auto json = suite_json(mixed_suite());
  EXPECT_EQ(json["schema"], "firedrill/suite/v1");
  EXPECT_EQ(json["verdict"], "fail");
  EXPECT_EQ(json["exit_code"], 3);
  EXPECT_EQ(json["parallel"], 2);
  EXPECT_DOUBLE_EQ(json["duration_seconds"].get<double>(), 40.0);
  EXPECT_EQ(json["totals"]["runs"], 3);
  EXPECT_EQ(json["totals"]["passed"], 1);
  EXPECT_EQ(json["totals"]["failed"], 1);
  EXPECT_EQ(json["totals"]["environment_errors"], 1);
  ASSERT_EQ(json["runs"].size(), 3u);
  const auto& first = json["runs"][0];
  EXPECT_EQ(first["scenario"], "calibration-pause");
  EXPECT_EQ(first["run_id"], "20261118-000000-aaaa");
  EXPECT_EQ(first["dir"], "runs/20261118-000000-aaaa");
  EXPECT_EQ(first["verdict"], "pass");
  EXPECT_EQ(first["exit_code"], 0);
  EXPECT_DOUBLE_EQ(first["rto_seconds"].get<double>(), 3.004);
  EXPECT_DOUBLE_EQ(first["rpo_seconds"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(first["duration_seconds"].get<double>(), 12.5);
  EXPECT_EQ(json["runs"][1]["verdict"], "error");
  EXPECT_TRUE(json["runs"][1]["rto_seconds"].is_null());
  EXPECT_EQ(json["runs"][1]["reasons"][0], "image 'firedrill/app:latest' is not present");
  EXPECT_EQ(json["runs"][2]["repetition"], 2);
  EXPECT_EQ(json["runs"][2]["reasons"][0], "RTO 4.2s > target 3s");
}

TEST(Suite, JunitHasOneTestsuitePerScenarioWithRepetitionsAsTestcases) {
  const std::string junit = render_suite_junit(mixed_suite());
  EXPECT_EQ(count_of(junit, "<testsuite "), 2u) << junit;
  EXPECT_EQ(count_of(junit, "</testsuite>"), 2u);
  // Scenarios in the order given; calibration's two runs are 2 × (completed + 2 checks).
  EXPECT_LT(junit.find("name=\"calibration-pause\""), junit.find("name=\"app-crash\""));
  EXPECT_NE(junit.find("<testsuite name=\"calibration-pause\" tests=\"6\" failures=\"2\" errors=\"0\" time=\"26.500\""),
            std::string::npos)
      << junit;
  EXPECT_NE(junit.find("<testsuite name=\"app-crash\" tests=\"1\" failures=\"0\" errors=\"1\""), std::string::npos) << junit;
  EXPECT_NE(junit.find("name=\"rto overall #1\""), std::string::npos);
  EXPECT_NE(junit.find("name=\"rto overall #2\""), std::string::npos);
  EXPECT_NE(junit.find("<failure message=\"run 20261118-000013-bbbb: 4.2s &gt; 3.03s\"/>"), std::string::npos) << junit;
  // A scenario run once keeps the plain names of its own junit.xml.
  EXPECT_NE(junit.find("name=\"drill completed\">\n      <error message=\"image &apos;firedrill/app:latest&apos; is not present\"/>"),
            std::string::npos)
      << junit;
  EXPECT_EQ(junit.rfind("</testsuites>\n"), junit.size() - 14);
}

TEST(Suite, ADrillExpectedToFailIsGreenWhenItFailsAndRedWhenItPasses) {
  Suite suite;
  suite.started_at = t0;
  suite.finished_at = t0 + 20'000'000;
  suite.parallel = 1;
  suite.exit_code = 1;
  auto caught = report_of("backup-corruption", "20261118-000000-cccc", false);
  caught["expected"] = "fail";
  suite.runs.push_back(run_of("backup-corruption", 1, "20261118-000000-cccc", 0, caught, t0, 5.0));
  auto missed = report_of("disk-corruption", "20261118-000010-dddd", true);
  missed["expected"] = "fail";
  suite.runs.push_back(run_of("disk-corruption", 1, "20261118-000010-dddd", 1, missed, t0 + 10'000'000, 5.0));
  const std::string junit = render_suite_junit(suite);
  EXPECT_NE(junit.find(R"(<testsuite name="backup-corruption" tests="3" failures="0")"), std::string::npos) << junit;
  EXPECT_NE(junit.find("failed as expected: 4.2s &gt; 3.03s"), std::string::npos) << junit;
  EXPECT_NE(junit.find(R"(<testsuite name="disk-corruption" tests="3" failures="1")"), std::string::npos) << junit;
  const std::string markdown = render_suite_markdown(suite);
  EXPECT_NE(markdown.find("✅ fail (expected)"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("❌ pass (exit 1)"), std::string::npos) << markdown;
}

TEST(Suite, JunitIsWellFormedXml) {
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0) GTEST_SKIP() << "xmllint (libxml2-utils) is not installed";
  const fs::path file = fs::temp_directory_path() / ("firedrill-suite-junit-" + std::to_string(::getpid()) + ".xml");
  std::ofstream(file) << render_suite_junit(mixed_suite());
  EXPECT_EQ(std::system(("xmllint --noout " + file.string()).c_str()), 0);
  fs::remove(file);
}

TEST(Suite, MarkdownIsATableWithTheVerdictAndWhyDrillsFailed) {
  const std::string markdown = render_suite_markdown(mixed_suite());
  EXPECT_EQ(markdown.rfind("### ❌ firedrill suite — FAIL (3 drills: 1 passed, 1 failed, 1 environment errors)", 0), 0u)
      << markdown;
  EXPECT_NE(markdown.find("| calibration-pause #1 | `20261118-000000-aaaa` | ✅ pass | 3.004s / 3.030s ✅ | 0ms / 0ms ✅ | 0 | 12.5s |"),
            std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("| calibration-pause #2 | `20261118-000013-bbbb` | ❌ fail (exit 1) | 4.200s / 3.030s ❌"),
            std::string::npos)
      << markdown;
  EXPECT_NE(markdown.find("| app-crash | – | ❌ error (exit 3) | – | – | – | 0.5s |"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("- `20261118-000013-bbbb` calibration-pause: RTO 4.2s > target 3s"), std::string::npos);
  EXPECT_NE(markdown.find("up to 2 at once"), std::string::npos);
}

TEST(Suite, WritesTheFilesAndAppendsToTheStepSummary) {
  const fs::path out = fs::temp_directory_path() / ("firedrill-suite-" + std::to_string(::getpid()));
  fs::remove_all(out);
  fs::create_directories(out);
  const fs::path step_summary = out / "step-summary.md";
  std::ofstream(step_summary) << "earlier step\n";

  write_suite_files(out, mixed_suite(), std::nullopt, step_summary);
  EXPECT_EQ(nlohmann::json::parse(read_file(out / "suite.json")), suite_json(mixed_suite()));
  EXPECT_EQ(read_file(out / "summary.md"), render_suite_markdown(mixed_suite()));
  EXPECT_EQ(read_file(out / "junit.xml"), render_suite_junit(mixed_suite()));
  EXPECT_EQ(read_file(step_summary), "earlier step\n" + render_suite_markdown(mixed_suite()) + "\n");

  write_suite_files(out, mixed_suite(), out / "elsewhere.xml", std::nullopt);
  EXPECT_EQ(read_file(out / "elsewhere.xml"), render_suite_junit(mixed_suite()));
  EXPECT_FALSE(fs::exists(out / "suite.json.tmp"));
  fs::remove_all(out);
}

}  // namespace
}  // namespace firedrill
