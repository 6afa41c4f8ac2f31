#include "harness/actions/restore_basebackup.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/runtime/fake_runtime.hpp"

namespace firedrill {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// A clock that moves only when the code under test sleeps.
class SteppingClock final : public Clock {
 public:
  Micros now() const override { return now_; }
  void sleep_until(Micros deadline) const override { now_ = std::max(now_, deadline); }

 private:
  mutable Micros now_ = 1'764'625'547'000'000;
};

ContainerSpec a_container(const std::string& service) {
  ContainerSpec spec;
  spec.service = service;
  return spec;
}

const std::vector<LogMilestone> milestones = {{"restore_seconds", "base backup laid down"},
                                              {"replay_seconds", "archive recovery complete"},
                                              {"start_seconds", "ready to accept connections"}};

/// A server whose log grows by one noisy line per 20 ms poll and prints `line` of milestone i at
/// poll `at[i]`.
std::string log_at(Micros elapsed, const std::vector<int>& at, int noise_per_poll) {
  const int poll = static_cast<int>(elapsed / 20'000);
  std::string log;
  for (int i = 0; i <= poll; ++i) {
    for (int n = 0; n < noise_per_poll; ++n) log += "LOG:  restored log file from archive\n";
    for (std::size_t m = 0; m < at.size(); ++m)
      if (at[m] == i) log += milestones[m].line + "\n";
  }
  return log;
}

// Security review 2, M12: the restore read the server's whole log (up to 64 MiB) every 20 ms
// until it was up, so a container printing without end cost the harness what it chose.
TEST(RestoreLogMilestones, TheWaitReadsOnlyTheLogsLastLines) {
  FakeRuntime runtime;
  SteppingClock clock;
  const Micros started = clock.now();
  runtime.start(a_container("db"));
  runtime.log_of = [&](const std::string&) { return log_at(clock.now() - started, {3, 10, 12}, 5); };
  std::vector<std::pair<std::string, Micros>> passed;
  await_log_milestones(
      runtime, clock, "db", milestones, started + 10'000'000,
      [&](const std::string& phase) { passed.emplace_back(phase, clock.now() - started); },
      [](const std::string&) { return std::string("stopped"); });
  EXPECT_EQ(runtime.whole_log_reads, 0);
  EXPECT_THAT(passed, ElementsAre(std::pair<std::string, Micros>{"restore_seconds", 60'000},
                                  std::pair<std::string, Micros>{"replay_seconds", 200'000},
                                  std::pair<std::string, Micros>{"start_seconds", 240'000}));
}

// Between two polls a server may print more lines than a poll reads: a later milestone in view
// says the earlier ones passed, at that poll.
TEST(RestoreLogMilestones, AMilestoneThatScrolledOutIsPassedByALaterOne) {
  FakeRuntime runtime;
  SteppingClock clock;
  const Micros started = clock.now();
  runtime.start(a_container("db"));
  // Milestone 0 and 1 at the same poll, with 1,000 lines after the first before the second.
  runtime.log_of = [&](const std::string&) {
    std::string log = log_at(clock.now() - started, {2, -1, 4}, 1);
    if (clock.now() - started >= 40'000) {
      std::string flood;
      for (int n = 0; n < 1000; ++n) flood += "LOG:  noise\n";
      log.insert(log.find(milestones[0].line) + milestones[0].line.size() + 1, flood + milestones[1].line + "\n");
    }
    return log;
  };
  std::vector<std::string> passed;
  await_log_milestones(
      runtime, clock, "db", milestones, started + 10'000'000, [&](const std::string& phase) { passed.push_back(phase); },
      [](const std::string&) { return std::string("stopped"); });
  EXPECT_THAT(passed, ElementsAre("restore_seconds", "replay_seconds", "start_seconds"));
}

TEST(RestoreLogMilestones, AServerThatStopsIsExplainedFromItsWholeLog) {
  FakeRuntime runtime;
  SteppingClock clock;
  runtime.log_of = [](const std::string&) { return std::string("FATAL:  recovery ended before target\n"); };
  try {
    await_log_milestones(
        runtime, clock, "db", milestones, clock.now() + 10'000'000, [](const std::string&) {},
        [](const std::string& logs) { return "why: " + logs; });
    FAIL() << "no failure";
  } catch (const ActionFailed& failure) {
    EXPECT_THAT(failure.what(), HasSubstr("why: FATAL:  recovery ended before target"));
  }
  EXPECT_EQ(runtime.whole_log_reads, 1);
}

TEST(RestoreLogMilestones, TheDeadlineNamesTheLineWaitedFor) {
  FakeRuntime runtime;
  SteppingClock clock;
  const Micros started = clock.now();
  runtime.start(a_container("db"));
  runtime.log_of = [&](const std::string&) { return log_at(clock.now() - started, {1}, 1); };
  try {
    await_log_milestones(
        runtime, clock, "db", milestones, started + 1'000'000, [](const std::string&) {},
        [](const std::string&) { return std::string("stopped"); });
    FAIL() << "no failure";
  } catch (const ActionFailed& failure) {
    EXPECT_THAT(failure.what(), HasSubstr("did not reach 'archive recovery complete' in time"));
  }
  EXPECT_GE(clock.now() - started, 1'000'000);
  EXPECT_EQ(runtime.whole_log_reads, 0);
}

}  // namespace
}  // namespace firedrill
