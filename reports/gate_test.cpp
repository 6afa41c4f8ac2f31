#include "reports/gate.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

Report report(const std::string& scenario, double rto, bool passed = true) {
  return report_from_json({{"run_id", scenario + "-" + std::to_string(rto)},
          {"scenario", {{"name", scenario}}},
          {"verdict", passed ? "pass" : "fail"},
          {"reasons", passed ? nlohmann::json::array() : nlohmann::json::array({"overall: RTO 9.000s missed the target 5.000s"})},
          {"measured", {{"rto_seconds", rto}, {"rpo_seconds", 0.0}, {"lost_acked_writes", 0}}}});
}

TEST(GateDistribution, MedianAndNearestRankP95) {
  auto d = distribution_of({5, 1, 4, 2, 3});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count, 5u);
  EXPECT_DOUBLE_EQ(d->min, 1);
  EXPECT_DOUBLE_EQ(d->median, 3);
  EXPECT_DOUBLE_EQ(d->p95, 5);
  EXPECT_DOUBLE_EQ(d->max, 5);
  EXPECT_DOUBLE_EQ(distribution_of({1, 2, 3, 4})->median, 2.5);
  EXPECT_FALSE(distribution_of({}));
}

TEST(Gate, AFailedDrillFailsTheGateWithItsReason) {
  auto figures = figures_of({report("quickstart", 3.0), report("quickstart", 9.0, false)});
  EXPECT_EQ(figures["quickstart"].drills, 2u);
  auto verdict = judge(figures, std::nullopt, 0.2);
  EXPECT_FALSE(verdict.passed);
  ASSERT_EQ(verdict.reasons.size(), 1u);
  EXPECT_EQ(verdict.reasons[0], "quickstart: run quickstart-9.000000: overall: RTO 9.000s missed the target 5.000s");
}

TEST(Gate, ADrillExpectedToFailHoldsTheGateByFailing) {
  auto caught = report("backup-corruption", 1.0, false);
  caught.expected = "fail";
  EXPECT_TRUE(judge(figures_of({caught}), std::nullopt, 0.2).passed);
  auto missed = report("backup-corruption", 1.0, true);
  missed.expected = "fail";
  auto verdict = judge(figures_of({missed}), std::nullopt, 0.2);
  EXPECT_FALSE(verdict.passed);
  ASSERT_EQ(verdict.reasons.size(), 1u);
  EXPECT_NE(verdict.reasons[0].find("expected to fail"), std::string::npos) << verdict.reasons[0];
}

TEST(Gate, AMedianGrowingBeyondToleranceIsARegression) {
  auto baseline = baseline_of(figures_of({report("quickstart", 3.0), report("quickstart", 3.1), report("quickstart", 2.9)}));
  auto within = judge(figures_of({report("quickstart", 3.4), report("quickstart", 3.5), report("quickstart", 3.3)}), baseline, 0.2);
  EXPECT_TRUE(within.passed) << within.reasons.front();
  auto beyond = judge(figures_of({report("quickstart", 4.0), report("quickstart", 4.1), report("quickstart", 3.9)}), baseline, 0.2);
  EXPECT_FALSE(beyond.passed);
  EXPECT_EQ(beyond.reasons[0], "quickstart: rto_seconds median regressed from 3.000 to 4.000 (+33%, tolerance 20%)");
  EXPECT_TRUE(std::any_of(beyond.rows.begin(), beyond.rows.end(), [](const GateRow& row) { return row.regressed; }));
}

TEST(Gate, ZeroBaselinesOnlyRegressBeyondTheSlackAndUnknownScenariosAreNotCompared) {
  auto baseline = baseline_of(figures_of({report("quickstart", 3.0)}));
  auto verdict = judge(figures_of({report("quickstart", 3.0), report("other", 100.0)}), baseline, 0.2);
  EXPECT_TRUE(verdict.passed);
  for (const auto& row : verdict.rows) EXPECT_NE(row.scenario, "other");
}

TEST(Gate, ToleranceIsAPercentOrAFraction) {
  EXPECT_DOUBLE_EQ(parse_tolerance("20%"), 0.2);
  EXPECT_DOUBLE_EQ(parse_tolerance("0.2"), 0.2);
  EXPECT_DOUBLE_EQ(parse_tolerance("5 %"), 0.05);
  EXPECT_THROW(parse_tolerance("twenty"), std::invalid_argument);
  EXPECT_THROW(parse_tolerance("-5%"), std::invalid_argument);
  EXPECT_THROW(parse_tolerance("5%%"), std::invalid_argument);
}

}  // namespace
}  // namespace firedrill
