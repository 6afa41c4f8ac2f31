#pragma once
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace firedrill::testing {

struct CommandOutcome {
  int exit_code = -1;  // 128+signal when killed by a signal
  std::string output;  // stdout and stderr
};

/// Runs argv to completion (bounded by timeout, then SIGKILL) and captures its output.
CommandOutcome run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout);

/// Starts argv in the background with output to a file; returns its pid.
int spawn_command(const std::vector<std::string>& argv, const std::string& output_file);

/// Waits for a spawned pid; returns its exit code (128+signal when killed).
int wait_command(int pid);

/// The whole file ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

/// True when a Docker engine answers (tests fail instead of skipping when CI is set).
bool engine_available();

/// A test against the real engine: fails without one when CI is set (skips otherwise), and gets
/// an empty directory of its own for run output, removed afterwards (kept when the test failed).
class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  /// Runs the firedrill binary under test with `arguments`, bounded by `timeout`.
  CommandOutcome firedrill(std::vector<std::string> arguments,
                           std::chrono::seconds timeout = std::chrono::seconds(400)) const;

  /// Runs `firedrill run SCENARIO --out <out_> EXTRA...`; returns the outcome and the report the
  /// run wrote (null when none), and sets run_dir_ and run_id_ to that run's.
  std::pair<CommandOutcome, nlohmann::json> drill(const std::filesystem::path& scenario,
                                                  const std::vector<std::string>& extra = {});

  std::filesystem::path out_;
  std::filesystem::path run_dir_;
  std::string run_id_;
};

}  // namespace firedrill::testing
