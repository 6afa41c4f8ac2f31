// The drill with a person in the loop, on the fake runtime: which steps wait for the person,
// what the report records of them, and that an action a person performed is not run again.
#include <algorithm>
#include <deque>
#include <thread>

#include <gtest/gtest.h>

#include "checks/registry.hpp"
#include "core/interrupt.hpp"
#include "harness/actions/action.hpp"
#include "harness/engine/drill.hpp"
#include "harness/rehearse/operator.hpp"
#include "harness/runtime/fake_runtime.hpp"
#include "harness/scenario/loader.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

constexpr const char* restart_by_hand = R"(version: 1
name: rehearsal-drill
services:
  box: { kind: container, image: busybox }
probes: []
steps:
  - { name: settle, wait: 20ms }
  - { name: freeze, fault: pause, target: box, duration: 100ms, incident: true }
  - { name: restart the box, action: restart, target: box, manual: "Restart box by hand", budget: 50ms }
  - { name: announce, manual: "Post the all-clear", budget: 1m }
)";

/// A person who answers each step with the next verdict of the script, after `think`.
class ScriptedPerson final : public Operator {
 public:
  ScriptedPerson(std::deque<HumanVerdict> answers, std::chrono::milliseconds think)
      : answers_(std::move(answers)), think_(think) {}
  void note(const std::string&) override {}
  void step(std::size_t, const StepSpec&) override {}
  void step_done(std::size_t, const StepSpec&, const std::string&, const std::string&) override {}
  void set_status(std::function<std::string()>) override {}
  void finish() override {}
  void observe(std::function<Telemetry()> telemetry) override { observed_ = observed_ || static_cast<bool>(telemetry); }
  HumanVerdict perform(const HumanTask& task) override {
    tasks.push_back(task);
    std::this_thread::sleep_for(think_);
    HumanVerdict verdict = answers_.empty() ? HumanVerdict::done : answers_.front();
    if (!answers_.empty()) answers_.pop_front();
    if (verdict == HumanVerdict::aborted) request_interrupt();
    return verdict;
  }
  std::vector<HumanTask> tasks;
  bool observed_ = false;

 private:
  std::deque<HumanVerdict> answers_;
  std::chrono::milliseconds think_;
};

class RehearsalDrill : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = fs::temp_directory_path() / ("firedrill-rehearsal-drill-test-" + std::to_string(::getpid()));
    fs::remove_all(out_);
    ::setenv("FIREDRILL_STATE_DIR", (out_ / "state").c_str(), 1);
    options_.out_dir = out_ / "runs";
    options_.progress = ProgressStyle::none;
    clear_interrupt();
    LoadOptions load;
    load.vocabulary = {fault_specs(), action_specs(), check_specs()};
    scenario_ = parse_scenario(restart_by_hand, "rehearsal.yaml", load);
  }
  void TearDown() override {
    clear_interrupt();
    ::unsetenv("FIREDRILL_STATE_DIR");
    fs::remove_all(out_);
  }
  DrillResult rehearse(ScriptedPerson& person) {
    options_.mode = "rehearsal";
    options_.human = &person;
    return run_drill(scenario_, runtime_, options_);
  }
  bool restarted() const {
    auto calls = runtime_.calls();
    return std::find(calls.begin(), calls.end(), "restart box") != calls.end();
  }
  static const nlohmann::json& step_named(const nlohmann::json& report, const std::string& name) {
    for (const auto& step : report["steps"])
      if (step["name"] == name) return step;
    throw std::runtime_error("no step " + name);
  }

  fs::path out_;
  DrillOptions options_;
  FakeRuntime runtime_;
  Scenario scenario_;
};

TEST_F(RehearsalDrill, ThePersonDoesTheActionAndEachHumanStepIsTimedAgainstItsBudget) {
  ScriptedPerson person({HumanVerdict::done, HumanVerdict::done}, std::chrono::milliseconds(120));
  auto result = rehearse(person);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  EXPECT_EQ(result.report["mode"], "rehearsal");
  EXPECT_FALSE(restarted()) << "the person restarted it; firedrill must not do it again";

  ASSERT_EQ(person.tasks.size(), 2u);
  EXPECT_EQ(person.tasks[0].name, "restart the box");
  EXPECT_EQ(person.tasks[0].instruction, "Restart box by hand");
  EXPECT_TRUE(person.tasks[0].automatable);
  EXPECT_EQ(person.tasks[0].budget, std::chrono::milliseconds(50));
  EXPECT_EQ(person.tasks[0].index, 2u);
  EXPECT_EQ(person.tasks[0].step_count, 4u);
  EXPECT_FALSE(person.tasks[1].automatable);

  const auto& restart = step_named(result.report, "restart the box");
  EXPECT_EQ(restart["outcome"], "ok");
  EXPECT_EQ(restart["human"]["completed_by"], "person");
  EXPECT_EQ(restart["human"]["budget_seconds"], 0.05);
  EXPECT_EQ(restart["human"]["over_budget"], true) << "120 ms against a 50 ms budget";
  EXPECT_GE(restart["human"]["seconds"].get<double>(), 0.12);
  const auto& announce = step_named(result.report, "announce");
  EXPECT_EQ(announce["outcome"], "ok");
  EXPECT_EQ(announce["human"]["over_budget"], false);
  EXPECT_FALSE(fs::exists(result.run_dir / "rehearsal.pgpass") && fs::file_size(result.run_dir / "rehearsal.pgpass") > 0)
      << "no postgres, no password in the file";
}

TEST_F(RehearsalDrill, FiredrillPerformsTheActionWhenAskedAndSkipsWhatIsSkipped) {
  ScriptedPerson person({HumanVerdict::performed_by_firedrill, HumanVerdict::skipped}, std::chrono::milliseconds(10));
  auto result = rehearse(person);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  EXPECT_TRUE(restarted());
  EXPECT_EQ(step_named(result.report, "restart the box")["human"]["completed_by"], "firedrill");
  EXPECT_EQ(step_named(result.report, "announce")["outcome"], "skipped");
  EXPECT_EQ(step_named(result.report, "announce")["human"]["completed_by"], "skipped");
}

TEST_F(RehearsalDrill, AutoActionsLeaveOnlyManualStepsToThePerson) {
  ScriptedPerson person({HumanVerdict::done}, std::chrono::milliseconds(10));
  options_.auto_actions = true;
  auto result = rehearse(person);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  EXPECT_TRUE(restarted());
  ASSERT_EQ(person.tasks.size(), 1u);
  EXPECT_EQ(person.tasks[0].name, "announce");
  EXPECT_FALSE(step_named(result.report, "restart the box").contains("human"));
}

TEST_F(RehearsalDrill, AbortRevertsTearsDownAndExits130) {
  ScriptedPerson person({HumanVerdict::aborted}, std::chrono::milliseconds(10));
  auto result = rehearse(person);
  EXPECT_EQ(result.exit_code, 130);
  EXPECT_EQ(step_named(result.report, "restart the box")["outcome"], "interrupted");
  EXPECT_EQ(step_named(result.report, "announce")["outcome"], "not run");
  auto calls = runtime_.calls();
  EXPECT_NE(std::find(calls.begin(), calls.end(), "unpause box"), calls.end());
  EXPECT_EQ(calls.back(), "teardown");
}

TEST_F(RehearsalDrill, RunModeSkipsManualStepsAndRunsTheActions) {
  auto result = run_drill(scenario_, runtime_, options_);
  EXPECT_EQ(result.exit_code, 0) << result.report.dump(2);
  EXPECT_EQ(result.report["mode"], "run");
  EXPECT_TRUE(restarted());
  EXPECT_EQ(step_named(result.report, "announce")["outcome"], "skipped");
  EXPECT_FALSE(step_named(result.report, "restart the box").contains("human"));
}

}  // namespace
}  // namespace firedrill
