// The scenario library's drills through the real command line, against the real engine, images,
// Postgres, Redis and app: each ends as its scenario says it must (pass, or fail as expected).
#include <filesystem>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "harness/runtime/cleanup.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using testing::CommandOutcome;
using testing::read_file;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;

class LibraryDrill : public testing::EngineTest {
 protected:

  /// Runs one library scenario into this test's out dir; returns the outcome and its report.
  std::pair<CommandOutcome, nlohmann::json> library_drill(const std::string& scenario) {
    return drill(source_dir / "scenarios" / scenario);
  }

  void expect_nothing_left(const std::string& run_id) {
    auto left = count_labelled(run_id);
    EXPECT_EQ(left.containers, 0);
    EXPECT_EQ(left.networks, 0);
    EXPECT_EQ(left.volumes, 0);
  }
};

TEST_F(LibraryDrill, BackupValidationCatchesCorruptionFailsAsExpectedNamingTheFile) {
  auto [outcome, report] = library_drill("backup-validation-catches-corruption.yaml");
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "fail");
  EXPECT_EQ(report["expected"], "fail");
  EXPECT_NE(outcome.output.find("FAIL (expected)"), std::string::npos) << outcome.output;
  EXPECT_NE(read_file(run_dir_ / "summary.md").find("FAIL (expected)"), std::string::npos);

  // The corrupt fault reports the file it changed; the check must name that same file.
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump(2);
  const std::string corrupted = fs::path(report["faults"][0]["details"].value("file", "")).filename().string();
  ASSERT_FALSE(corrupted.empty()) << report["faults"][0].dump(2);
  const nlohmann::json* backup_valid = nullptr;
  for (const auto& check : report["checks"])
    if (check["name"] == "backup_valid(db)") backup_valid = &check;
  ASSERT_NE(backup_valid, nullptr) << report["checks"].dump(2);
  EXPECT_FALSE((*backup_valid)["passed"].get<bool>());
  const std::string detail = (*backup_valid)["detail"];
  EXPECT_NE(detail.find(corrupted), std::string::npos) << detail;
  EXPECT_NE(detail.find("sha256 mismatch"), std::string::npos) << detail;
  expect_nothing_left(report["run_id"]);
}

TEST_F(LibraryDrill, RedisAofCorruptionRestoreBringsTheCacheBackFromItsRdbBackup) {
  auto [outcome, report] = library_drill("redis-aof-corruption-restore.yaml");
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  EXPECT_FALSE(report.contains("expected"));

  // Redis refused the damaged AOF before the restore, and served the backup's keys after it.
  const std::string cache_log = read_file(run_dir_ / "logs" / "cache.log");
  // "Bad file format reading the append only file ...", "Unknown command '...' reading the ...":
  // which one depends on the byte that changed.
  const auto refused = cache_log.find(" reading the append only file ");
  EXPECT_NE(refused, std::string::npos) << cache_log;
  EXPECT_NE(cache_log.find("Ready to accept connections", refused == std::string::npos ? 0 : refused), std::string::npos)
      << cache_log;
  const nlohmann::json* restore = nullptr;
  for (const auto& step : report["steps"])
    if (step["name"] == "restore the cache") restore = &step;
  ASSERT_NE(restore, nullptr) << report["steps"].dump(2);
  EXPECT_EQ((*restore)["outcome"], "ok") << restore->dump(2);
  EXPECT_GT((*restore)["details"].value("keys", 0), 0) << restore->dump(2);
  EXPECT_FALSE((*restore)["details"].value("found_running", true)) << "Redis was still up on its damaged AOF";

  const auto& rto = report["components"]["cache"]["rto"];
  ASSERT_TRUE(rto["measured_seconds"].is_number()) << report["components"].dump(2);
  EXPECT_GT(rto["measured_seconds"].get<double>(), 0.0);
  EXPECT_TRUE(rto["met"].get<bool>());
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left(report["run_id"]);
}

TEST_F(LibraryDrill, FullEnvironmentLossIsRebuiltFromTheBackupRepositoryAlone) {
  auto [outcome, report] = library_drill("full-environment-loss.yaml");
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);

  testing::expect_full_environment_loss_accounted(run_dir_, report, "nightly database backup");
  expect_nothing_left(report["run_id"]);
}

}  // namespace
TEST_F(LibraryDrill, DnsFailureKeepsTheAppFromReconnectingUntilDbResolvesAgain) {
  auto [outcome, report] = library_drill("dns-failure-app.yaml");
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  const auto& fault = report["faults"][0];
  EXPECT_EQ(fault["type"], "dns");
  EXPECT_EQ(fault["details"]["host"], "db");
  EXPECT_EQ(fault["details"]["mode"], "fail");
  EXPECT_TRUE(fault["reverted_at"].is_string());
  // The resolver failing alone changes nothing; the restart (T0) breaks the pool, no order is
  // taken until db resolves again 6 s later, and the pool reconnects by itself soon after.
  const double rto = report["measured"]["rto_seconds"].get<double>();
  EXPECT_GE(rto, 5.5);
  EXPECT_LT(rto, 15.0);
  EXPECT_GT(report["measured"]["failed_writes"].get<long>(), 100);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left(report["run_id"]);
}

}  // namespace firedrill
