// Every writer's output for a recorded history (reports/testdata/run: events.jsonl, acks.jsonl,
// readback.jsonl and the scenario.yaml they were run from), evaluated here and now rather than
// read from a stored report, against approved copies in reports/testdata/history/. A change in
// the measurement, the judgement, the report's mapping or a writer shows as a diff there; when it
// is meant, `FIREDRILL_UPDATE_GOLDEN=1 ctest --test-dir build -R golden.` rewrites the copies.
#include <algorithm>

#include <gtest/gtest.h>

#include "checks/history_report.hpp"
#include "checks/registry.hpp"
#include "harness/actions/action.hpp"
#include "harness/scenario/loader.hpp"
#include "injectors/registry.hpp"
#include "reports/golden_support.hpp"
#include "reports/registry.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

const std::filesystem::path source_dir = FIREDRILL_SOURCE_DIR;
const std::filesystem::path history_dir = source_dir / "reports/testdata/run";
const std::filesystem::path golden_dir = source_dir / "reports/testdata/history";

Scenario recorded_scenario() {
  LoadOptions options;
  options.vocabulary = {fault_specs(), action_specs(), check_specs()};
  // Named as the run named it, so the goldens do not depend on where the sources are.
  return parse_scenario(golden::read_file(history_dir / "scenario.yaml"), "scenarios/quickstart.yaml", options);
}

Report evaluated_report() {
  return report_from_history(recorded_scenario(), read_events(history_dir / "events.jsonl"), read_acks(history_dir / "acks.jsonl"),
                             read_readback(history_dir / "readback.jsonl"));
}

RunRecord evaluated_run() { return load_run_record(history_dir, nlohmann::json(evaluated_report())); }

TEST(HistoryGolden, EveryWriterRendersTheEvaluatedHistoryAsApproved) {
  const RunRecord run = evaluated_run();
  for (const auto& [format, writer] : report_writers()) golden::expect_matches(golden_dir, writer.file_name, writer.render(run));
}

TEST(HistoryGolden, TheTerminalSummaryAndAnnotationsAsApproved) {
  const Report report = evaluated_report();
  golden::expect_matches(golden_dir, "terminal.txt", render_terminal_summary(report, "runs/20261125-162459-b9c6", false));
  golden::expect_matches(golden_dir, "annotations.txt", render_github_annotations(report));
}

// The targets are judged once: the components' objectives, the listed rto/rpo checks and the
// reasons all show the same judgement.
TEST(HistoryGolden, EachTargetIsJudgedOnceAndShownEverywhere) {
  const Report report = evaluated_report();
  EXPECT_EQ(report.verdict, Verdict::fail);
  const auto& db = report.components.at("db");
  ASSERT_TRUE(db.rpo);
  EXPECT_FALSE(db.rpo->met);
  EXPECT_FALSE(db.met);
  const auto rpo_check = std::find_if(report.checks.begin(), report.checks.end(), [](const CheckOutcome& check) { return check.name == "rpo(db)"; });
  ASSERT_NE(rpo_check, report.checks.end());
  EXPECT_EQ(rpo_check->verdict, Verdict::fail);
  EXPECT_EQ(rpo_check->detail, "measured 0.029s > target 0.000s");
  const auto& overall = report.components.at("overall");
  ASSERT_TRUE(overall.rto);
  EXPECT_TRUE(overall.rto->met);
  EXPECT_TRUE(report.checks.front().passed()) << report.checks.front().detail;
  EXPECT_NE(std::find(report.reasons.begin(), report.reasons.end(), "db: RPO 0.029s missed the target 0.000s"), report.reasons.end());
}

// Without a read-back the loss is unknown: the checks that need it cannot be judged, and the run
// did not pass.
TEST(HistoryGolden, WithoutAReadbackTheLossChecksAreUnknown) {
  const Report report = report_from_history(recorded_scenario(), read_events(history_dir / "events.jsonl"),
                                            read_acks(history_dir / "acks.jsonl"), std::nullopt);
  for (const auto& check : report.checks)
    if (check.name == "rpo(db)" || check.name == "lost_acked_writes(db)") {
      EXPECT_EQ(check.verdict, Verdict::unknown) << check.name;
      EXPECT_EQ(check.detail.rfind("not measured: ", 0), 0u) << check.detail;
    }
  // Nothing else failed (the integrity query counted as many rows as were acknowledged): the
  // run is unknown, which report.json writes as the fail it is for a gate.
  EXPECT_EQ(report.verdict, Verdict::unknown);
  EXPECT_FALSE(report.passed());
  EXPECT_EQ(nlohmann::json(report)["verdict"], "fail");
  EXPECT_TRUE(nlohmann::json(report)["measured"]["lost_acked_writes"].is_null());
}

}  // namespace
}  // namespace firedrill
