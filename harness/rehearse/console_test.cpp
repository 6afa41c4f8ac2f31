#include "harness/rehearse/console.hpp"

#include <unistd.h>

#include <atomic>
#include <future>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/interrupt.hpp"

namespace firedrill {
namespace {

/// A thread-safe sink the operator writes its prompts to (recursive: stringbuf's xsputn calls
/// overflow).
class SharedStream : public std::stringbuf {
 public:
  std::string text() {
    std::lock_guard lock(mutex_);
    return str();
  }

 protected:
  int sync() override { return 0; }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard lock(mutex_);
    return std::stringbuf::xsputn(s, n);
  }
  int_type overflow(int_type c) override {
    std::lock_guard lock(mutex_);
    return std::stringbuf::overflow(c);
  }

 private:
  std::recursive_mutex mutex_;
};

class LineMode : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_interrupt();
    ASSERT_EQ(::pipe(pipe_), 0);
    scenario_.name = "rehearsal-test";
    StepSpec manual;
    manual.name = "announce";
    manual.verb = StepVerb::manual;
    manual.what = "Post the all-clear";
    manual.budget = std::chrono::seconds(60);
    scenario_.steps = {manual};
    person_ = make_line_operator(scenario_, real_clock(), pipe_[0], output_);
  }
  void TearDown() override {
    if (pipe_[1] >= 0) ::close(pipe_[1]);
    person_.reset();
    ::close(pipe_[0]);
    clear_interrupt();
  }
  void type(const std::string& text) { ASSERT_EQ(::write(pipe_[1], text.data(), text.size()), static_cast<ssize_t>(text.size())); }
  HumanTask task(bool automatable = false) {
    HumanTask task;
    task.index = 0;
    task.step_count = 1;
    task.name = "announce";
    task.instruction = "Post the all-clear in #incidents";
    task.commands = {"docker exec -it fd-run-db psql -U postgres -d app"};
    task.budget = std::chrono::seconds(60);
    task.automatable = automatable;
    return task;
  }

  int pipe_[2] = {-1, -1};
  Scenario scenario_;
  SharedStream buffer_;
  std::ostream output_{&buffer_};
  std::unique_ptr<Operator> person_;
};

TEST_F(LineMode, EnterCompletesTheStepAndThePromptShowsTextCommandsAndBudget) {
  auto verdict = std::async(std::launch::async, [&] { return person_->perform(task()); });
  EXPECT_EQ(verdict.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout) << "it waits for the person";
  type("\n");
  ASSERT_EQ(verdict.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(verdict.get(), HumanVerdict::done);
  const std::string text = buffer_.text();
  EXPECT_NE(text.find("=== your step 1/1: announce ==="), std::string::npos) << text;
  EXPECT_NE(text.find("Budget: 1:00.0"), std::string::npos) << text;
  EXPECT_NE(text.find("Post the all-clear in #incidents"), std::string::npos) << text;
  EXPECT_NE(text.find("  $ docker exec -it fd-run-db psql -U postgres -d app"), std::string::npos) << text;
  EXPECT_NE(text.find("announce: person after 0:00."), std::string::npos) << text;
  EXPECT_NE(text.find("of budget 1:00.0, under"), std::string::npos) << text;
}

TEST_F(LineMode, AnswersTypedAheadApplyInOrder) {
  type("s\nr\n");
  EXPECT_EQ(person_->perform(task()), HumanVerdict::skipped);
  EXPECT_EQ(person_->perform(task(true)), HumanVerdict::performed_by_firedrill);
}

TEST_F(LineMode, FiredrillCannotDoAManualStep) {
  type("r\n\n");
  EXPECT_EQ(person_->perform(task(false)), HumanVerdict::done);
  EXPECT_NE(buffer_.text().find("'r' is not an answer"), std::string::npos);
}

TEST_F(LineMode, AbortRequestsTheInterrupt) {
  type("a\n");
  EXPECT_EQ(person_->perform(task()), HumanVerdict::aborted);
  EXPECT_TRUE(interrupted());
}

TEST_F(LineMode, ConditionCompletesTheStepWithoutAnAnswer) {
  std::atomic<bool> promoted{false};
  HumanTask waiting = task();
  waiting.until = "the query `SELECT NOT pg_is_in_recovery()` on db-standby-1 returns true";
  waiting.condition = [&] { return promoted.load(); };
  auto verdict = std::async(std::launch::async, [&] { return person_->perform(waiting); });
  EXPECT_EQ(verdict.wait_for(std::chrono::milliseconds(400)), std::future_status::timeout);
  promoted = true;
  ASSERT_EQ(verdict.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(verdict.get(), HumanVerdict::completed_by_itself);
  EXPECT_NE(buffer_.text().find("Done by itself when the query"), std::string::npos);
}

TEST_F(LineMode, ClosedInputAbortsAStepNobodyCanConfirm) {
  ::close(pipe_[1]);
  pipe_[1] = -1;
  EXPECT_EQ(person_->perform(task()), HumanVerdict::aborted);
  EXPECT_NE(buffer_.text().find("The input ended"), std::string::npos);
}

TEST_F(LineMode, ClosedInputStillLetsAConditionComplete) {
  ::close(pipe_[1]);
  pipe_[1] = -1;
  HumanTask waiting = task();
  std::atomic<int> polls{0};
  waiting.condition = [&] { return ++polls >= 3; };
  EXPECT_EQ(person_->perform(waiting), HumanVerdict::completed_by_itself);
}

TEST_F(LineMode, SignalDuringAStepAborts) {
  auto verdict = std::async(std::launch::async, [&] { return person_->perform(task()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  request_interrupt();
  ASSERT_EQ(verdict.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_EQ(verdict.get(), HumanVerdict::aborted);
}

TEST_F(LineMode, ProgressOfAutomatedStepsIsPrintedWithTheBudgetJudgement) {
  auto progress = forward_progress(*person_);
  progress->note("db ready (postgres)");
  progress->step(0, scenario_.steps[0]);
  progress->step_done(0, scenario_.steps[0], "ok", "");
  const std::string text = buffer_.text();
  EXPECT_NE(text.find("db ready (postgres)"), std::string::npos) << text;
  EXPECT_NE(text.find("step 1/1 announce"), std::string::npos) << text;
  EXPECT_NE(text.find("announce — ok (0:00.0 of budget 1:00.0, under)"), std::string::npos) << text;
}

}  // namespace
}  // namespace firedrill
