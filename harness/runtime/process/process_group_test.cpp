#include "harness/runtime/process/process_group.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "harness/runtime/process/child_reaper.hpp"
#include "harness/runtime/process/process_files.hpp"
#include "harness/runtime/process/service_cgroup.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

/// A process group of two: a leader and one more process it started, both sleeping. When
/// `leader_leaves` the leader exits (and is reaped) once its member runs, leaving the member alone
/// in the group.
struct TwoProcessGroup {
  RecordedProcess record;
  int member = 0;
};

TwoProcessGroup start_group(bool leader_leaves) {
  int ready[2], release[2];
  EXPECT_EQ(::pipe(ready), 0);
  EXPECT_EQ(::pipe(release), 0);
  const pid_t leader = ::fork();
  if (leader == 0) {
    ::setpgid(0, 0);
    const pid_t member = ::fork();
    if (member == 0) {
      for (;;) ::pause();
    }
    const int value = static_cast<int>(member);
    [[maybe_unused]] auto written = ::write(ready[1], &value, sizeof value);
    if (leader_leaves) {
      // Stay until the parent has read the start time, then leave the member behind.
      char byte = 0;
      [[maybe_unused]] auto got = ::read(release[0], &byte, 1);
      ::_exit(0);
    }
    for (;;) ::pause();
  }
  ::setpgid(leader, leader);
  int member = 0;
  EXPECT_EQ(::read(ready[0], &member, sizeof member), static_cast<ssize_t>(sizeof member));
  TwoProcessGroup group{{leader, process_start_time(leader).value_or(0), leader, {}}, member};
  if (leader_leaves) {
    [[maybe_unused]] auto written = ::write(release[1], "x", 1);
    ::waitpid(leader, nullptr, 0);
  }
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  return group;
}

bool exists(int pid) {
  const RecordedProcess probe{pid, process_start_time(pid).value_or(0), pid, {}};
  return probe.leader_alive();
}

void reap_if_child(int pid) { ::waitpid(pid, nullptr, WNOHANG); }

TEST(RecordedProcess, TextRoundTrips) {
  const RecordedProcess process{4242, 987654321ULL, 4242, {}};
  EXPECT_EQ(process.to_text(), "pid=4242 start_time=987654321 process_group=4242\n");
  const auto parsed = RecordedProcess::parse(process.to_text());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->pid, 4242);
  EXPECT_EQ(parsed->start_time, 987654321ULL);
  EXPECT_EQ(parsed->process_group, 4242);
}

TEST(RecordedProcess, TornOrForeignTextIsRefused) {
  EXPECT_FALSE(RecordedProcess::parse(""));
  EXPECT_FALSE(RecordedProcess::parse("pid=4242 start_time=9"));  // torn before the group
  EXPECT_FALSE(RecordedProcess::parse("4242\n"));                 // a plain pid file
  EXPECT_FALSE(RecordedProcess::parse("pid=-5 start_time=9 process_group=4"));
  EXPECT_FALSE(RecordedProcess::parse("pid=1 start_time=9 process_group=1"));  // never init
  EXPECT_FALSE(RecordedProcess::parse("pid=42 start_time=9 process_group=42 colour=red"));
}

TEST(ProcessStartTime, IsTheOwnersAndMissingForAnExitedProcess) {
  EXPECT_EQ(process_start_time(::getpid()), Owner::self().start_time);
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(process_start_time(child));
}

TEST(RecordedProcess, KillingTheGroupKillsEveryMember) {
  auto group = start_group(false);
  EXPECT_TRUE(group.record.leader_alive());
  auto members = group.record.members();
  std::sort(members.begin(), members.end());
  std::vector<int> expected{group.record.pid, group.member};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(members, expected);

  // The leader is this test's child: it stays a zombie until reaped, which counts as gone.
  std::thread reaper([&] { ::waitpid(group.record.pid, nullptr, 0); });
  EXPECT_TRUE(kill_recorded_processes(group.record, std::chrono::seconds(5)));
  reaper.join();
  EXPECT_FALSE(exists(group.member));
  EXPECT_FALSE(group.record.leader_alive());
}

TEST(RecordedProcess, ARecordWhosePidNowNamesAnotherProcessTouchesNothing) {
  auto group = start_group(false);
  // The same pid with another start time: what a record looks like once the pid was reused.
  RecordedProcess reused = group.record;
  reused.start_time -= 1;
  EXPECT_FALSE(reused.leader_alive());
  EXPECT_TRUE(reused.members().empty());
  EXPECT_FALSE(signal_recorded_processes(reused, SIGKILL));
  kill_recorded_processes(reused, std::chrono::milliseconds(100));
  EXPECT_TRUE(exists(group.record.pid));
  EXPECT_TRUE(exists(group.member));

  std::thread reaper([&] { ::waitpid(group.record.pid, nullptr, 0); });
  EXPECT_TRUE(kill_recorded_processes(group.record, std::chrono::seconds(5)));
  reaper.join();
}

TEST(RecordedProcess, MembersLeftByADeadLeaderAreStillTheRecords) {
  auto group = start_group(true);
  EXPECT_FALSE(group.record.leader_alive());
  EXPECT_EQ(group.record.members(), std::vector<int>{group.member});
  EXPECT_TRUE(kill_recorded_processes(group.record, std::chrono::seconds(5)));
  // The member was the leader's child, now init's: gone once init reaps it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (exists(group.member) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(exists(group.member));
}

// Security review 2, L6: a leaderless group matched any later process with its id, so once the
// pid was reused by a process that made a group of its own, that group was killed.
TEST(RecordedProcess, ALeaderlessGroupCountsOnlyMembersOfTheSessionTheServiceStartedIn) {
  auto group = start_group(true);
  group.record.session = static_cast<int>(::getsid(0));
  EXPECT_EQ(group.record.members(), std::vector<int>{group.member});
  // The same group seen as one a later process made elsewhere (another session).
  RecordedProcess foreign = group.record;
  foreign.session = group.record.session + 1;
  EXPECT_EQ(foreign.members(), std::vector<int>{});
  EXPECT_FALSE(signal_recorded_processes(foreign, SIGKILL));
  EXPECT_TRUE(exists(group.member));
  EXPECT_TRUE(kill_recorded_processes(group.record, std::chrono::seconds(5)));
  const auto record = RecordedProcess::parse(group.record.to_text());
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->session, group.record.session);
}

TEST(PidFile, RoundTripsAndKillingTheRecordedProcessesRemovesIt) {
  const fs::path directory = fs::temp_directory_path() / ("firedrill-pid-file-test-" + std::to_string(::getpid()));
  fs::create_directories(directory);
  auto group = start_group(false);
  write_pid_file(directory / "pid", group.record);
  const auto read = read_pid_file(directory / "pid");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->to_text(), group.record.to_text());
  EXPECT_FALSE(fs::exists(directory / "pid.partial"));

  std::ofstream(directory / "foreign") << "pid=1234";
  std::thread reaper([&] { ::waitpid(group.record.pid, nullptr, 0); });
  std::vector<std::string> errors;
  EXPECT_EQ(kill_recorded_processes({directory / "pid", directory / "foreign", directory / "missing"}, errors), 1);
  reaper.join();
  EXPECT_TRUE(errors.empty());
  EXPECT_FALSE(fs::exists(directory / "pid"));
  EXPECT_FALSE(exists(group.member));
  reap_if_child(group.record.pid);
  fs::remove_all(directory);
}

/// A service shaped like PostgreSQL's: a leader in its own group whose child and grandchild each
/// start a session of their own (as every backend does), so no group or session holds them all.
/// With `cgroup`, the leader is moved into it before it starts anything.
struct SpreadTree {
  RecordedProcess record;
  std::vector<int> all;  // leader, child, grandchild
};

SpreadTree start_spread_tree(const fs::path& cgroup = {}) {
  int ready[2], go[2];
  EXPECT_EQ(::pipe(ready), 0);
  EXPECT_EQ(::pipe(go), 0);
  const pid_t leader = ::fork();
  if (leader == 0) {
    ::setpgid(0, 0);
    char byte = 0;
    if (::read(go[0], &byte, 1) != 1) ::_exit(1);
    const pid_t child = ::fork();
    if (child == 0) {
      ::setsid();
      const pid_t grandchild = ::fork();
      if (grandchild == 0) {
        ::setsid();
        const int pids[2] = {static_cast<int>(::getppid()), static_cast<int>(::getpid())};
        [[maybe_unused]] auto written = ::write(ready[1], pids, sizeof pids);
      }
      for (;;) ::pause();
    }
    for (;;) ::pause();
  }
  ::setpgid(leader, leader);
  if (!cgroup.empty()) move_into_service_cgroup(cgroup, leader);
  EXPECT_EQ(::write(go[1], "x", 1), 1);
  int pids[2] = {0, 0};
  EXPECT_EQ(::read(ready[0], pids, sizeof pids), static_cast<ssize_t>(sizeof pids));
  for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
  return {{leader, process_start_time(leader).value_or(0), leader, cgroup}, {leader, pids[0], pids[1]}};
}

std::vector<int> sorted(std::vector<int> pids) {
  std::sort(pids.begin(), pids.end());
  return pids;
}

/// Kills the tree through the record, then requires every process of it gone: not running, and
/// not left behind as a zombie either (this process adopts orphans and reaps them).
void expect_killed_without_trace(const SpreadTree& tree) {
  EXPECT_EQ(sorted(tree.record.members()), sorted(tree.all));
  EXPECT_TRUE(kill_recorded_processes(tree.record, std::chrono::seconds(5)));
  for (const int pid : tree.all) EXPECT_FALSE(read_process_stat(pid)) << "process " << pid << " is still in /proc";
  EXPECT_TRUE(tree.record.members().empty());
}

TEST(PidFile, OneAnotherUserCouldHaveWrittenIsNoRecord) {
  const fs::path directory = fs::temp_directory_path() / ("firedrill-pid-file-mode-test-" + std::to_string(::getpid()));
  fs::create_directories(directory);
  const RecordedProcess record{::getpid(), process_start_time(::getpid()).value_or(0), ::getpgrp(), {}};
  write_pid_file(directory / "pid", record);
  EXPECT_TRUE(read_pid_file(directory / "pid"));
  ::chmod((directory / "pid").c_str(), 0666);
  EXPECT_FALSE(read_pid_file(directory / "pid"));
  ::chmod((directory / "pid").c_str(), 0644);
  fs::create_symlink(directory / "pid", directory / "link");
  EXPECT_FALSE(read_pid_file(directory / "link"));
  fs::remove_all(directory);
}

TEST(ProcessTree, KillingTheRecordKillsEveryProcessOfTheTreeWhateverItsSession) {
  ASSERT_TRUE(adopt_orphans());
  expect_killed_without_trace(start_spread_tree());
}

TEST(ProcessTree, FreezingStopsEveryProcessOfTheTreeAndThawingContinuesThem) {
  ASSERT_TRUE(adopt_orphans());
  const SpreadTree tree = start_spread_tree();
  ASSERT_TRUE(freeze_recorded_processes(tree.record, true));
  for (const int pid : tree.all) EXPECT_EQ(read_process_stat(pid).value_or(ProcessStat{}).state, 'T') << pid;
  ASSERT_TRUE(freeze_recorded_processes(tree.record, false));
  for (const int pid : tree.all) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (read_process_stat(pid).value_or(ProcessStat{}).state == 'T' && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_NE(read_process_stat(pid).value_or(ProcessStat{}).state, 'T') << pid;
  }
  expect_killed_without_trace(tree);
}

TEST(ProcessTree, ACgroupHoldsTheWholeTreeAndGoesWithIt) {
  const auto root = service_cgroup_root();
  if (!root) GTEST_SKIP() << "no cgroup v2 hierarchy this process can use (needs root and cgroup.kill)";
  ASSERT_TRUE(adopt_orphans());
  const fs::path cgroup = service_cgroup_path(*root, "process-tree-test-" + std::to_string(::getpid()), "svc");
  EXPECT_TRUE(is_service_cgroup(cgroup));
  EXPECT_FALSE(is_service_cgroup(*root / "x" / ".." / "y"));
  EXPECT_FALSE(is_service_cgroup("/sys/fs/cgroup/elsewhere/a/b"));
  create_service_cgroup(cgroup);
  const SpreadTree tree = start_spread_tree(cgroup);
  EXPECT_EQ(sorted(service_cgroup_processes(cgroup)), sorted(tree.all));
  // Recorded and read back, as cleanup finds it after a crash.
  const auto parsed = RecordedProcess::parse(tree.record.to_text());
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->cgroup, cgroup);
  EXPECT_FALSE(RecordedProcess::parse(fmt::format("pid=42 start_time=9 process_group=42 cgroup={}", (*root / "..").string())));

  ASSERT_TRUE(freeze_recorded_processes(tree.record, true));
  EXPECT_TRUE(freeze_recorded_processes(tree.record, false));
  expect_killed_without_trace(tree);
  EXPECT_FALSE(service_cgroup_populated(cgroup));
  std::string error;
  EXPECT_TRUE(remove_service_cgroup(cgroup, error)) << error;
  EXPECT_FALSE(fs::exists(cgroup));
  EXPECT_FALSE(fs::exists(cgroup.parent_path()));
}

}  // namespace
}  // namespace firedrill
