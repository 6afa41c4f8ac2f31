// report.json's one mapping: a stored report read into the type and written again is the same
// document; verdicts compose worst-wins.
#include <fstream>

#include <gtest/gtest.h>

#include "checks/report.hpp"

namespace firedrill {
namespace {

const std::filesystem::path source_dir = FIREDRILL_SOURCE_DIR;

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

TEST(Report, AStoredReportReadAndWrittenAgainIsTheSameDocument) {
  const auto stored = read_json(source_dir / "reports/testdata/run/report.json");
  const nlohmann::json again = report_from_json(stored);
  EXPECT_EQ(again, stored) << nlohmann::json::diff(stored, again).dump(2);
}

TEST(Report, TypedFieldsAreRead) {
  const Report report = report_from_json(read_json(source_dir / "reports/testdata/run/report.json"));
  EXPECT_EQ(report.scenario.name, "quickstart");
  EXPECT_EQ(report.verdict, Verdict::fail);
  ASSERT_TRUE(report.components.contains("db"));
  ASSERT_TRUE(report.components.at("db").rpo);
  EXPECT_FALSE(report.components.at("db").rpo->met);
  EXPECT_EQ(report.measured.lost_acked_writes, 2);
  ASSERT_EQ(report.checks.size(), 4u);
  EXPECT_TRUE(report.checks[0].passed());
  ASSERT_TRUE(report.environment);
  EXPECT_EQ(report.environment->services.size(), 3u);
}

TEST(Report, KeysTheTypeDoesNotNameAreKept) {
  nlohmann::json stored = {{"verdict", "pass"}, {"future", {{"x", 1}}}, {"steps", {{{"name", "s"}, {"verb", "wait"}, {"outcome", "ok"}, {"human", true}}}}};
  const nlohmann::json again = report_from_json(stored);
  EXPECT_EQ(again["future"], stored["future"]);
  EXPECT_EQ(again["steps"][0]["human"], true);
  EXPECT_EQ(again["verdict"], "pass");
}

TEST(Report, APartialOrMistypedReportReadsAsDefaults) {
  const Report report = report_from_json({{"measured", {{"rto_seconds", "soon"}}}, {"checks", 3}});
  EXPECT_FALSE(report.measured.rto_seconds);
  EXPECT_TRUE(report.checks.empty());
  EXPECT_EQ(report.verdict, Verdict::fail);
  EXPECT_EQ(report_from_json(nlohmann::json::array()).run_id, "");
}

TEST(Verdict, TheWorstWins) {
  EXPECT_EQ(worst(Verdict::pass, Verdict::pass), Verdict::pass);
  EXPECT_EQ(worst(Verdict::pass, Verdict::unknown), Verdict::unknown);
  EXPECT_EQ(worst(Verdict::unknown, Verdict::fail), Verdict::fail);
  EXPECT_EQ(worst(Verdict::fail, Verdict::pass), Verdict::fail);
  // report.json knows pass and fail: a run that could not be judged did not pass.
  EXPECT_EQ(report_verdict_word(Verdict::unknown), "fail");
  EXPECT_EQ(verdict_name(Verdict::unknown), "unknown");
  const nlohmann::json check = CheckOutcome{"rpo(db)", Verdict::unknown, "not measured: no read-back"};
  EXPECT_EQ(check, (nlohmann::json{{"name", "rpo(db)"}, {"passed", false}, {"detail", "not measured: no read-back"}}));
}

}  // namespace
}  // namespace firedrill
