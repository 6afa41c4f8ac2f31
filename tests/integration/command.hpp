#pragma once
#include <chrono>
#include <filesystem>
#include <set>
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

/// The 127.0.0.1 port a run's report gives for `service` (environment.services[].endpoint); 0
/// when the report names none.
int published_port(const nlohmann::json& report, const std::string& service);

/// The ids `query` returns (`orders` by default) of the Postgres published at 127.0.0.1:port
/// (user and database postgres), failing the test when that server is not a primary (`what` names
/// it: the promoted standby, the restored server, the app's database).
std::set<std::string> order_ids_on_primary(int port, const std::string& password, const std::string& what,
                                           const std::string& query = "SELECT id FROM orders");

/// The regular files under `directory` holding `text` (a secret no file of a run may hold).
std::vector<std::string> files_holding(const std::filesystem::path& directory, const std::string& text);

/// Checks a run of full-environment-loss.yaml against its recorded history: every service was
/// destroyed and rebuilt; no write acknowledged before `backup_step` began is lost (readback.jsonl
/// against acks.jsonl), some after it are, and the RPO is no longer than backup → incident.
void expect_full_environment_loss_accounted(const std::filesystem::path& run_dir, const nlohmann::json& report,
                                            const std::string& backup_step);

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
