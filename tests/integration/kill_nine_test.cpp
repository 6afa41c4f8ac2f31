// `kill -9` of firedrill at random moments while a fault is being applied or is in force, then
// `firedrill cleanup`: every fault is reverted and every resource removed. What each fault left
// is listed before the cleanup (the iptables chains inside the namespaces, the size-limited
// filesystems), so a point where the fault was really active is known to have been exercised.
//
// FIREDRILL_KILL_POINTS sets the kill points per fault type (3 by default; the `long` test runs 10).
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker/host_firewall.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;

using testing::read_file;

int kill_points() {
  const char* configured = std::getenv("FIREDRILL_KILL_POINTS");
  return configured != nullptr ? std::max(1, std::atoi(configured)) : 3;
}

/// Lines of a command's output containing `needle`.
int count_lines_with(const std::string& text, const std::string& needle) {
  int count = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.find(needle) != std::string::npos) ++count;
  return count;
}

/// The id of the one run in `out` (each kill point runs into a directory of its own).
std::string run_id_in(const fs::path& out) {
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(out, ignored))
    if (entry.is_directory()) return entry.path().filename().string();
  return {};
}

/// The lines holding `marker` that `command` prints in the network namespace of each running
/// container of the run, entered from this machine (nsenter): what a fault left there, whichever
/// way firedrill put it (straight into the namespace, or through a network sidecar).
int lines_in_namespaces(const std::string& run_id, const std::vector<std::string>& command, const std::string& marker) {
  auto containers = testing::run_command(
      {"docker", "ps", "--filter", "label=io.firedrill.run=" + run_id, "--format", "{{.Names}}"}, std::chrono::seconds(20));
  int lines = 0;
  std::istringstream names(containers.output);
  for (std::string name; std::getline(names, name);) {
    if (name.ends_with("-netadmin")) continue;  // shares its target's namespace
    auto pid = testing::run_command({"docker", "inspect", "-f", "{{.State.Pid}}", name}, std::chrono::seconds(20));
    while (!pid.output.empty() && pid.output.back() == '\n') pid.output.pop_back();
    if (pid.exit_code != 0 || pid.output.empty() || pid.output == "0") continue;
    std::vector<std::string> entered = {"nsenter", "-t", pid.output, "-n"};
    entered.insert(entered.end(), command.begin(), command.end());
    lines += count_lines_with(testing::run_command(entered, std::chrono::seconds(20)).output, marker);
  }
  return lines;
}

/// The firedrill iptables chains now in the namespaces of the run's containers.
int firedrill_chains_in_namespaces(const std::string& run_id) {
  return lines_in_namespaces(run_id, {"iptables", "-S"}, "-N FIREDRILL");
}

/// The htb qdiscs (a bandwidth cap) now on the interfaces of the run's containers.
int rate_limits_in_namespaces(const std::string& run_id) {
  return lines_in_namespaces(run_id, {"tc", "qdisc", "show", "dev", "eth0"}, "qdisc htb");
}

/// The size-limited filesystems mounted for the run now.
int size_limited_mounts(const std::string& run_id) {
  return count_lines_with(read_file("/proc/mounts"), (size_limited_mount_root() / run_id).string() + "/");
}

/// The disk-full fill files in the run's size-limited filesystems now.
int disk_fill_files(const std::string& run_id) {
  int files = 0;
  std::error_code ignored;
  for (fs::recursive_directory_iterator it(size_limited_mount_root() / run_id, ignored), end; it != end; it.increment(ignored))
    if (it->path().filename() == "firedrill-disk-full") ++files;
  return files;
}

/// The run's services whose wall clock a clock-skew fault has moved now: their offset file holds
/// anything but a zero offset.
int skewed_clocks(const std::string& run_id) {
  auto containers = testing::run_command(
      {"docker", "ps", "--filter", "label=io.firedrill.run=" + run_id, "--format", "{{.Names}}"}, std::chrono::seconds(20));
  std::istringstream names(containers.output);
  int skewed = 0;
  for (std::string name; std::getline(names, name);) {
    if (name.ends_with("-netadmin")) continue;
    auto offset = testing::run_command({"docker", "exec", name, "cat", "/tmp/firedrill-clock"}, std::chrono::seconds(20));
    if (offset.exit_code == 0 && !offset.output.starts_with("+0\n")) ++skewed;
  }
  return skewed;
}

struct KillCase {
  std::string scenario;                                           // file in scenarios/
  std::vector<std::pair<std::string, std::string>> replacements;  // shorter waits for the test
  std::string fault_step;                                         // printed when the fault starts
  std::function<int(const std::string& run_id)> fault_traces;     // what the fault leaves while active
};

void PrintTo(const KillCase& kill_case, std::ostream* out) { *out << kill_case.scenario; }

class KillNineTest : public ::testing::TestWithParam<KillCase> {
 protected:
  void SetUp() override {
    if (!testing::engine_available()) {
      if (std::getenv("CI")) FAIL() << "no Docker engine answers; ci/setup starts one";
      GTEST_SKIP() << "no Docker engine answers; run ci/setup";
    }
    out_ = fs::temp_directory_path() / ("firedrill-kill-nine-" + std::to_string(::getpid()));
    fs::remove_all(out_);
    fs::create_directories(out_);
  }
  void TearDown() override {
    if (!out_.empty()) fs::remove_all(out_);
  }

  fs::path variant(const KillCase& kill_case) {
    std::string text = read_file(source_dir / "scenarios" / kill_case.scenario);
    for (const auto& [from, to] : kill_case.replacements) {
      auto at = text.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) text.replace(at, from.size(), to);
    }
    auto path = out_ / kill_case.scenario;
    std::ofstream(path) << text;
    return path;
  }

  fs::path out_;
};

TEST_P(KillNineTest, AtRandomPointsOfTheFaultCleanupRevertsAndRemovesEverything) {
  const KillCase& kill_case = GetParam();
  const fs::path scenario = variant(kill_case);
  std::mt19937 random(std::random_device{}());
  int active_when_killed = 0;
  for (int point = 0; point < kill_points(); ++point) {
    SCOPED_TRACE("kill point " + std::to_string(point));
    const fs::path runs = out_ / ("point-" + std::to_string(point));
    fs::create_directories(runs);
    auto log = out_ / ("point-" + std::to_string(point) + ".log");
    int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", runs.string()}, log.string());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (read_file(log).find(kill_case.fault_step) == std::string::npos && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_NE(read_file(log).find(kill_case.fault_step), std::string::npos) << read_file(log);
    // From the step's first moment (the fault half-applied) to well inside it.
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 2500)(random)));
    ::kill(pid, SIGKILL);
    EXPECT_EQ(testing::wait_command(pid), 128 + SIGKILL);

    // This run only: drills of other tests or people on the engine are not this test's to remove.
    const std::string run_id = run_id_in(runs);
    ASSERT_FALSE(run_id.empty()) << read_file(log);
    const int traces = kill_case.fault_traces(run_id);
    if (traces > 0) ++active_when_killed;
    auto cleanup = testing::run_command({FIREDRILL_BINARY, "cleanup", run_id}, std::chrono::seconds(120));
    EXPECT_EQ(cleanup.exit_code, 0) << cleanup.output;
    if (traces > 0) {
      EXPECT_NE(cleanup.output.find("reverted"), std::string::npos) << cleanup.output;
    }

    const auto left = count_labelled(run_id);
    EXPECT_EQ(left.containers, 0);
    EXPECT_EQ(left.networks, 0);
    EXPECT_EQ(left.volumes, 0);
    EXPECT_EQ(size_limited_mounts(run_id), 0) << read_file("/proc/mounts");
    EXPECT_EQ(kill_case.fault_traces(run_id), 0);
    if (can_change_host_firewall()) {
      EXPECT_EQ(count_egress_rules(run_id), 0) << "the run's egress rule stayed";
    }
  }
  // Most points land while the fault is in force; at least one must, or the test proved little.
  EXPECT_GT(active_when_killed, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, KillNineTest,
    ::testing::Values(
        KillCase{"network-partition-app-db.yaml",
                 {{"{ name: warm up, wait: 3s }", "{ name: warm up, wait: 1s }"}, {"duration: 10s", "duration: 20s"}},
                 "app cut from postgres",
                 firedrill_chains_in_namespaces},
        KillCase{"disk-full-postgres.yaml", {}, "postgres disk full", disk_fill_files},
        KillCase{"dns-failure-app.yaml",
                 {{"{ name: warm up, wait: 3s }", "{ name: warm up, wait: 1s }"}, {"duration: 8s", "duration: 20s"}},
                 "resolver down",
                 firedrill_chains_in_namespaces},
        KillCase{"pg-pitr-clock-skew.yaml",
                 {{"{ name: orders keep coming, wait: 5s }", "{ name: orders keep coming, wait: 20s }"}},
                 "db clock runs ahead",
                 skewed_clocks},
        KillCase{"replication-bandwidth-starved.yaml",
                 {{"{ name: warm up, wait: 3s }", "{ name: warm up, wait: 1s }"},
                  {"{ name: writes outrun the link, wait: 6s }", "{ name: writes outrun the link, wait: 20s }"}},
                 "link to the standby starved",
                 rate_limits_in_namespaces}),
    [](const ::testing::TestParamInfo<KillCase>& instance) {
      if (instance.param.scenario.starts_with("network")) return std::string("Partition");
      if (instance.param.scenario.starts_with("dns")) return std::string("Dns");
      if (instance.param.scenario.starts_with("pg-pitr-clock")) return std::string("ClockSkew");
      if (instance.param.scenario.starts_with("replication-bandwidth")) return std::string("Bandwidth");
      return std::string("DiskFull");
    });

}  // namespace
}  // namespace firedrill
