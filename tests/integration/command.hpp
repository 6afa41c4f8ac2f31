#pragma once
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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
/// an empty directory of its own for run output, removed afterwards.
class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::filesystem::path out_;
};

}  // namespace firedrill::testing
