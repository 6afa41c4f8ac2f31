// `kill -9` of `firedrill run --sign-key` at random moments around signing and chaining: the
// next signed run into the same directory, or `firedrill chain verify --repair`, always leaves a
// chain that `chain verify --key` calls intact; before that, the only complaints allowed are the
// ones a repair mends (a run signed but not chained yet, a torn last line), never tampering.
//
// The drill is the shortest there is (one redis on the process runtime, a 300 ms pause), so the
// points land around its end. FIREDRILL_SIGN_KILL_POINTS sets how many (2 by default; the `long`
// test runs 10).
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "reports/attestation/keys.hpp"
#include "reports/attestation/test_support.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using attestation::testing::ScratchDirectory;
using attestation::testing::write_file;
using testing::read_file;

const char* const tiny_drill = R"(version: 1
name: signing-kill
description: The shortest drill that ends in a signed report.
targets:
  overall: { rto: 30s }
services:
  cache: { kind: redis }
steps:
  - { name: warm up, wait: 200ms }
  - { name: cache stops, fault: pause, target: cache, duration: 300ms, incident: true }
  - { name: recovered, await: recovered, stable: 200ms, timeout: 20s }
checks:
  - { rto: overall }
)";

int kill_points() {
  const char* configured = std::getenv("FIREDRILL_SIGN_KILL_POINTS");
  return configured != nullptr ? std::max(1, std::atoi(configured)) : 2;
}

std::set<std::string> run_directories(const fs::path& runs) {
  std::set<std::string> names;
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator(runs, ignored))
    if (entry.is_directory(ignored)) names.insert(entry.path().filename().string());
  return names;
}

class SignKill : public ::testing::Test {
 protected:
  ScratchDirectory scratch;
  attestation::GeneratedKeyFiles keys = attestation::keygen((scratch.path() / "signer").string());
  fs::path runs = scratch.path() / "runs";
  fs::path scenario = scratch.path() / "signing-kill.yaml";

  void SetUp() override {
    fs::create_directories(runs);
    write_file(scenario, tiny_drill);
    if (!fs::exists("/usr/bin/redis-server")) {
      if (std::getenv("CI")) FAIL() << "no redis-server for the process runtime; ci/setup installs it";
      GTEST_SKIP() << "no redis-server for the process runtime; run ci/setup";
    }
  }

  std::vector<std::string> run_arguments() const {
    return {FIREDRILL_BINARY, "run", scenario.string(), "--runtime", "process", "--out", runs.string(),
            "--sign-key", keys.private_key.string(), "-q"};
  }
  testing::CommandOutcome firedrill(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), FIREDRILL_BINARY);
    return testing::run_command(arguments, std::chrono::seconds(120));
  }
  testing::CommandOutcome chain_verify(bool repair = false) const {
    std::vector<std::string> arguments{"chain", "verify", runs.string(), "--key", keys.public_key.string()};
    if (repair) arguments.push_back("--repair");
    return firedrill(arguments);
  }

  /// Starts a signed run and returns its pid and the moment its report.json appeared (the drill
  /// is over; signing comes next), or nullopt when it never did.
  std::optional<std::pair<int, std::chrono::steady_clock::time_point>> start_until_report(const fs::path& log) const {
    auto before = run_directories(runs);
    int pid = testing::spawn_command(run_arguments(), log.string());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      for (const auto& name : run_directories(runs))
        if (!before.count(name) && fs::exists(runs / name / "report.json"))
          return std::make_pair(pid, std::chrono::steady_clock::now());
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    ::kill(pid, SIGKILL);
    testing::wait_command(pid);
    return std::nullopt;
  }
};

TEST_F(SignKill, AKillAroundSigningNeverLeavesAChainThatLooksTampered) {
  // A first, whole run: the chain has a head, and it measures how long signing takes after the
  // report appears, so the kill points spread over that window.
  auto reference = start_until_report(scratch.path() / "reference.log");
  ASSERT_TRUE(reference) << read_file(scratch.path() / "reference.log");
  testing::wait_command(reference->first);
  auto window = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - reference->second);
  auto first = chain_verify();
  ASSERT_EQ(first.exit_code, 0) << first.output << read_file(scratch.path() / "reference.log");

  std::mt19937 random(std::random_device{}());
  int left_repairable = 0;
  for (int point = 0; point < kill_points(); ++point) {
    SCOPED_TRACE("kill point " + std::to_string(point));
    auto log = scratch.path() / ("point-" + std::to_string(point) + ".log");
    auto started = start_until_report(log);
    ASSERT_TRUE(started) << read_file(log);
    std::this_thread::sleep_for(std::chrono::microseconds(
        std::uniform_int_distribution<long>(0, window.count() + 5000)(random)));
    ::kill(started->first, SIGKILL);
    testing::wait_command(started->first);

    // Before any repair the directory may say a run is pending or a line torn, nothing worse.
    auto before = chain_verify();
    if (before.exit_code != 0) {
      ++left_repairable;
      bool mendable = before.output.find("is signed but not chained yet") != std::string::npos ||
                      before.output.find("the last line is torn") != std::string::npos;
      EXPECT_TRUE(mendable) << before.output;
    }

    const bool through_repair = point % 2 == 1;
    if (through_repair) {
      auto repaired = chain_verify(true);
      EXPECT_EQ(repaired.exit_code, 0) << repaired.output;
    } else {
      auto next = testing::run_command(run_arguments(), std::chrono::seconds(120));
      EXPECT_NE(next.output.find("chain entry"), std::string::npos) << next.output;
    }
    auto after = chain_verify();
    EXPECT_EQ(after.exit_code, 0) << (through_repair ? "after --repair: " : "after the next run: ") << after.output;
    EXPECT_NE(after.output.find("intact"), std::string::npos) << after.output;
  }
  RecordProperty("kill_points_left_repairable", left_repairable);
  // The killed runs' processes: the process runtime's reaper at the next run removes what a dead
  // run left; one last run makes sure nothing of this test outlives it.
  testing::run_command(run_arguments(), std::chrono::seconds(120));
  EXPECT_EQ(chain_verify().exit_code, 0);
}

}  // namespace
}  // namespace firedrill
