#include "harness/engine/drill.hpp"

#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "checks/registry.hpp"
#include "core/interrupt.hpp"
#include "harness/actions/action.hpp"
#include "harness/runtime/fake_runtime.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/scenario/loader.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

/// One container without ports, probes or workload: the drill's own logic, nothing to measure.
constexpr const char* paused_container = R"(version: 1
name: fake-drill
services:
  box: { kind: container, image: busybox }
probes: []
steps:
  - { name: settle, wait: 50ms }
  - { name: freeze, fault: pause, target: box, duration: 300ms, incident: true }
  - { name: hold, wait: 500ms }
)";

class DrillWithFakeRuntime : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = fs::temp_directory_path() / ("firedrill-drill-test-" + std::to_string(::getpid()));
    fs::remove_all(out_);
    ::setenv("FIREDRILL_STATE_DIR", (out_ / "state").c_str(), 1);
    options_.out_dir = out_ / "runs";
    options_.progress = ProgressStyle::none;
    clear_interrupt();
  }
  void TearDown() override {
    clear_interrupt();
    ::unsetenv("FIREDRILL_STATE_DIR");
    fs::remove_all(out_);
  }

  Scenario scenario(const std::string& text) {
    LoadOptions load;
    load.vocabulary = {fault_specs(), action_specs(), check_specs()};
    return parse_scenario(text, "fake.yaml", load);
  }

  fs::path out_;
  DrillOptions options_;
  FakeRuntime runtime_;
};

/// A clock that stands still: every run id it stamps has the same second.
class StoppedClock final : public Clock {
 public:
  Micros now() const override { return 1'764'625'547'000'000; }
  void sleep_until(Micros) const override {}
};

// Security review 2, M10: ids were one second plus 16 random bits, so two runs started in the
// same second (different --out, one engine) met often enough to share a network.
TEST(RunIds, RunsOfTheSameSecondGetSixtyFourRandomBits) {
  const StoppedClock clock;
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_run_id(clock);
    EXPECT_TRUE(is_run_id(id)) << id;
    EXPECT_EQ(id.substr(0, 16), "20251201-214547-");
    EXPECT_EQ(id.size(), 16u + 16u) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST_F(DrillWithFakeRuntime, PausesForItsDurationRevertsOnTimeAndTearsDown) {
  auto result = run_drill(scenario(paused_container), runtime_, options_);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  std::vector<std::string> expected = {"begin_run", "create_network", "start box", "pause box", "unpause box", "teardown"};
  EXPECT_EQ(runtime_.calls(), expected);
  const auto& fault = result.report["faults"][0];
  EXPECT_EQ(fault["type"], "pause");
  EXPECT_TRUE(fault["reverted_at"].is_string());
  EXPECT_EQ(result.report["steps"].size(), 3u);
  EXPECT_TRUE(result.report["incident_at"].is_string());
  // Journalled before created, the inverse before the fault, and closed at the end.
  auto journal = read_journal(result.run_dir / "journal.jsonl");
  EXPECT_TRUE(journal.finished);
  EXPECT_TRUE(journal.unreverted_inverses.empty());
  ASSERT_EQ(journal.created.size(), 2u);
  EXPECT_EQ(journal.created[0].first, "network");
  EXPECT_EQ(journal.created[1].first, "container");
  EXPECT_TRUE(indexed_runs().empty()) << "a finished run leaves the index";
  EXPECT_TRUE(fs::exists(result.run_dir / "logs/box.log"));
}

TEST_F(DrillWithFakeRuntime, AnInterruptRevertsTheActiveFaultTearsDownAndExits130) {
  std::thread interrupter([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    request_interrupt();
  });
  auto text = std::string(paused_container);
  text.replace(text.find("duration: 300ms"), 15, "duration: 30s  ");
  auto result = run_drill(scenario(text), runtime_, options_);
  interrupter.join();
  EXPECT_EQ(result.exit_code, 130);
  EXPECT_EQ(result.report["verdict"], "fail");
  auto calls = runtime_.calls();
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[calls.size() - 2], "unpause box");
  EXPECT_EQ(calls.back(), "teardown");
}

TEST_F(DrillWithFakeRuntime, AnEnvironmentErrorExitsThreeAndStillTearsDown) {
  runtime_.fail_start_of = "box";
  auto result = run_drill(scenario(paused_container), runtime_, options_);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.environment_error.find("not present"), std::string::npos);
  EXPECT_EQ(runtime_.calls().back(), "teardown");
  EXPECT_NE(result.report["reasons"].dump().find("not present"), std::string::npos);
}

// Security review 2, M6 and M8: a readiness error quotes the container's log, which may hold
// any bytes and a secret; the run still gets every report, and no file of it holds the secret.
TEST_F(DrillWithFakeRuntime, AnErrorWithInvalidUtf8AndASecretStillGivesAWholeMaskedReport) {
  runtime_.fail_start_of = "box";
  runtime_.fail_start_message = "service 'box' never became ready\nlast log lines:\n\xFF\xFE token=tok-8Hq2 \xC3\n";
  auto result = run_drill(scenario(R"(version: 1
name: fake-drill
services:
  box: { kind: container, image: busybox, env: { API_TOKEN: tok-8Hq2 } }
probes: []
steps:
  - { name: settle, wait: 50ms }
)"),
                          runtime_, options_);
  EXPECT_EQ(result.exit_code, 3);
  ASSERT_TRUE(fs::exists(result.run_dir / "report.json"));
  const auto report = nlohmann::json::parse(std::ifstream(result.run_dir / "report.json"));
  EXPECT_NE(report["reasons"].dump().find("token=****** \xEF\xBF\xBD"), std::string::npos) << report["reasons"].dump();
  std::ifstream junit(result.run_dir / "junit.xml");
  const std::string junit_text{std::istreambuf_iterator<char>(junit), {}};
  EXPECT_EQ(junit_text.find("did not finish"), std::string::npos) << junit_text;
  for (const auto& entry : fs::recursive_directory_iterator(result.run_dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(text.find("tok-8Hq2"), std::string::npos) << entry.path();
  }
}

TEST_F(DrillWithFakeRuntime, KeptRunsAreMarkedSoTheReaperSparesThem) {
  options_.keep = true;
  auto result = run_drill(scenario(paused_container), runtime_, options_);
  EXPECT_EQ(runtime_.calls().back(), "unpause box") << "kept: no teardown";
  EXPECT_EQ(kept_runs(), std::set<std::string>{result.run_id});
}

TEST_F(DrillWithFakeRuntime, AResumeStepEndsAnEarlierPauseAndTheDrillGoesOn) {
  auto result = run_drill(scenario(R"(version: 1
name: fake-drill
services:
  box: { kind: container, image: busybox }
probes: []
steps:
  - { name: freeze, fault: pause, target: box, incident: true }
  - { name: thaw, fault: resume, target: box }
  - { name: after, wait: 10ms }
)"), runtime_, options_);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  std::vector<std::string> expected = {"begin_run", "create_network", "start box", "pause box", "unpause box", "teardown"};
  EXPECT_EQ(runtime_.calls(), expected);
  EXPECT_EQ(result.report["faults"].size(), 1u) << "resume applies nothing of its own";
  EXPECT_TRUE(result.report["faults"][0]["reverted_at"].is_string());
}

TEST_F(DrillWithFakeRuntime, ResumingWhatIsNotPausedFailsTheStepAndStopsTheRunbook) {
  auto result = run_drill(scenario(R"(version: 1
name: fake-drill
services:
  box: { kind: container, image: busybox }
probes: []
steps:
  - { name: thaw, fault: resume, target: box }
  - { name: never, wait: 10ms }
)"), runtime_, options_);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.report["steps"][0]["outcome"], "failed");
  EXPECT_EQ(result.report["steps"][0]["error"], "no pause is active on 'box' to end");
  EXPECT_EQ(result.report["steps"][1]["outcome"], "not run");
  EXPECT_EQ(runtime_.calls().back(), "teardown");
}

TEST_F(DrillWithFakeRuntime, ADrillExpectedToFailSucceedsWhenItFails) {
  auto result = run_drill(scenario(R"(version: 1
name: fake-drill
expect: fail
services:
  box: { kind: container, image: busybox }
probes: []
steps:
  - { name: thaw, fault: resume, target: box }
)"), runtime_, options_);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  EXPECT_FALSE(result.passed);
  EXPECT_EQ(result.report["verdict"], "fail");
  EXPECT_EQ(result.report["expected"], "fail");
}

TEST_F(DrillWithFakeRuntime, ADrillExpectedToFailThatPassesIsAFailure) {
  auto result = run_drill(scenario(R"(version: 1
name: fake-drill
expect: fail
services:
  box: { kind: container, image: busybox }
probes: []
steps:
  - { name: settle, wait: 10ms }
)"), runtime_, options_);
  EXPECT_EQ(result.exit_code, 1) << result.report.dump(2);
  EXPECT_TRUE(result.passed);
  EXPECT_EQ(result.report["verdict"], "pass");
  EXPECT_EQ(result.report["expected"], "fail");
  auto unexpected = run_drill(scenario(paused_container), runtime_, options_);
  EXPECT_FALSE(unexpected.report.contains("expected")) << "a drill expected to pass says nothing extra";
}

TEST_F(DrillWithFakeRuntime, BackupValidReportsTheFailedVerificationOrItsAbsence) {
  auto result = run_drill(scenario(R"(version: 1
name: fake-drill
services:
  box: { kind: container, image: busybox }
  other: { kind: container, image: busybox }
probes: []
steps:
  - { name: verify box, action: verify-backup, target: box }
checks:
  - { backup_valid: box }
  - { backup_valid: other }
)"), runtime_, options_);
  EXPECT_EQ(result.exit_code, 1);
  ASSERT_EQ(result.report["steps"][0]["outcome"], "failed");
  const std::string error = result.report["steps"][0]["error"];
  ASSERT_FALSE(error.empty());
  ASSERT_EQ(result.report["checks"].size(), 2u) << result.report["checks"].dump(2);
  for (const auto& check : result.report["checks"]) {
    EXPECT_FALSE(check["passed"].get<bool>());
    if (check["name"] == "backup_valid(box)")
      EXPECT_EQ(check["detail"], "step 'verify box' failed: " + error);
    else
      EXPECT_EQ(check["detail"], "not verified: no verify-backup step about 'other' ran");
  }
}

TEST_F(DrillWithFakeRuntime, StopIsGracefulAndStartsAgainAfterItsDuration) {
  auto result = run_drill(scenario(R"(version: 1
name: fake-drill
services:
  box: { kind: container, image: busybox }
probes: []
steps:
  - { name: stop it, fault: stop, target: box, duration: 100ms, incident: true }
  - { name: hold, wait: 300ms }
  - { name: bounce, fault: restart, target: box }
)"), runtime_, options_);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  std::vector<std::string> expected = {"begin_run", "create_network", "start box", "kill box TERM", "start_again box",
                                       "restart box", "teardown"};
  EXPECT_EQ(runtime_.calls(), expected);
}

}  // namespace
}  // namespace firedrill
