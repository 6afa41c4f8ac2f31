// The scenario library's drills through the real command line, against the real engine, images,
// Postgres, Redis and app: each ends as its scenario says it must (pass, or fail as expected).
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
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

  /// Library scenario `file` with `db` given `password` and each of `changes` (a text, what
  /// replaces it) made, written into this test's out dir.
  fs::path variant_with_password(const std::string& file, const std::string& password,
                                 const std::vector<std::pair<std::string, std::string>>& changes = {}) {
    std::string text = read_file(source_dir / "scenarios" / file);
    auto replace = [&](const std::string& from, const std::string& to) {
      EXPECT_NE(text.find(from), std::string::npos) << from;
      if (text.find(from) != std::string::npos) text.replace(text.find(from), from.size(), to);
    };
    replace("db: { kind: postgres }", "db: { kind: postgres, env: { POSTGRES_PASSWORD: " + password + " } }");
    for (const auto& [from, to] : changes) replace(from, to);
    const fs::path path = out_ / file;
    std::ofstream(path) << text;
    return path;
  }

  /// What the writes of `writer` in acks.jsonl were: the ids the service gave the acknowledged
  /// ones (each checked by `given_by_service`), and how many failed (each keeping firedrill's
  /// own `<run>-<writer>-<n>`, as the service never named it).
  struct ServiceIds {
    std::set<std::string> acked;
    long acked_count = 0;
    long failed = 0;
  };
  ServiceIds ids_given_by_service(const std::string& run_id, const std::string& writer,
                                  const std::function<bool(const std::string&)>& given_by_service) {
    ServiceIds ids;
    for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl")) {
      if (ack.writer != writer) continue;
      if (ack.outcome == WriteOutcome::ok) {
        ++ids.acked_count;
        EXPECT_TRUE(given_by_service(ack.id)) << ack.id;
        ids.acked.insert(ack.id);
      } else {
        ++ids.failed;
        EXPECT_TRUE(ack.id.starts_with(run_id + "-" + writer + "-")) << ack.id;
      }
    }
    EXPECT_EQ(static_cast<long>(ids.acked.size()), ids.acked_count) << "the service gave two acknowledged writes one id";
    return ids;
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

namespace firedrill {
namespace {

TEST_F(LibraryDrill, ReplicationBandwidthStarvedLosesWhatTheLinkCouldNotShipAndReportsTheLagItSaw) {
  // A known password, so the test can read the promoted database itself.
  constexpr const char* password = "bandwidth-test-password";
  std::string text = read_file(source_dir / "scenarios" / "replication-bandwidth-starved.yaml");
  const std::string declared = "db: { kind: postgres, standbys: 1 }";
  ASSERT_NE(text.find(declared), std::string::npos);
  text.replace(text.find(declared), declared.size(),
               std::string("db: { kind: postgres, standbys: 1, env: { POSTGRES_PASSWORD: ") + password + " } }");
  const fs::path scenario = out_ / "replication-bandwidth-starved.yaml";
  std::ofstream(scenario) << text;

  auto [outcome, report] = drill(scenario, {"--keep"});
  ASSERT_TRUE(report.is_object()) << outcome.output;
  const std::string run_id = report["run_id"];
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);

  // The cap, and the lag the primary showed under it, growing until it died.
  ASSERT_GE(report["faults"].size(), 1u);
  const auto& fault = report["faults"][0];
  EXPECT_EQ(fault["type"], "bandwidth");
  EXPECT_EQ(fault["details"]["rate"], "64kbit");
  EXPECT_EQ(fault["details"]["bytes_per_second"], 8000.0);
  const auto& lag = fault["details"]["replication_lag"];
  ASSERT_TRUE(lag.is_object()) << fault.dump(2);
  EXPECT_EQ(lag["standby"], "db-standby-1");
  EXPECT_GE(lag["samples"].get<int>(), 5);
  const Micros incident = parse_rfc3339(report["incident_at"].get<std::string>());
  // The primary answers until the kill has landed, a few milliseconds after T0 (stamped at the
  // request): the last reading may fall just after it, never long after.
  EXPECT_LT(parse_rfc3339(lag["last"]["at"].get<std::string>()), incident + 1'000'000);
  std::vector<std::int64_t> behind;
  for (const Event& event : read_events(run_dir_ / "events.jsonl"))
    if (event.kind == "replication.lag" && event.t < incident) behind.push_back(event.details.value("behind_bytes", std::int64_t{0}));
  ASSERT_GE(behind.size(), 5u);
  EXPECT_GT(behind.back(), behind.front() + 50'000) << "the lag did not grow under the cap";
  EXPECT_GE(lag["last"]["behind_bytes"].get<std::int64_t>(), behind.back()) << "the lag only grows under the cap";

  // The lost writes, counted a second time from the promoted database against acks.jsonl.
  const int port = testing::published_port(report, "db-standby-1");
  ASSERT_NE(port, 0) << report["environment"].dump(2);
  const std::set<std::string> present = testing::order_ids_on_primary(port, password, "the promoted standby");
  long acked = 0, missing = 0, missing_before_incident = 0;
  for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl")) {
    if (ack.outcome != WriteOutcome::ok) continue;
    ++acked;
    if (!present.count(ack.id)) {
      ++missing;
      if (*ack.acked < incident) ++missing_before_incident;
    }
  }
  const auto& measured = report["measured"];
  EXPECT_EQ(measured["acked_writes"].get<long>(), acked);
  EXPECT_EQ(measured["lost_acked_writes"].get<long>(), missing);
  EXPECT_GT(missing_before_incident, 50) << "the starved standby kept up: no RPO was produced";
  EXPECT_GT(measured["rpo_seconds"].get<double>(), 1.0);
  EXPECT_LT(measured["rpo_seconds"].get<double>(), 12.0);
  RecordProperty("lost_acked_writes", std::to_string(missing));
  RecordProperty("rpo_seconds", std::to_string(measured["rpo_seconds"].get<double>()));
  RecordProperty("last_behind_bytes", std::to_string(behind.back()));

  EXPECT_EQ(firedrill({"down", run_id}).exit_code, 0);
  expect_nothing_left(run_id);
}

}  // namespace
}  // namespace firedrill

namespace firedrill {
namespace {

/// own-app-orders-api.yaml with a known database password and the shop's key in the environment.
class OwnAppDrill : public LibraryDrill {
 protected:
  static constexpr const char* password = "own-app-test-password";
  static constexpr const char* api_key = "own-app-test-key-5d1c";

  fs::path scenario(const std::string& query = "SELECT id FROM orders WHERE id = ANY($1)") {
    ::setenv("SHOP_API_KEY", api_key, 1);
    return variant_with_password("own-app-orders-api.yaml", password, {{"SELECT id FROM orders WHERE id = ANY($1)", query}});
  }

  void expect_key_nowhere() { EXPECT_EQ(testing::files_holding(run_dir_, api_key), std::vector<std::string>{}); }
};

TEST_F(OwnAppDrill, AnAppWrittenOverHttpWithAnApiKeyAndIdsOfItsOwnLosesNoOrderCountedFromItsDatabase) {
  auto [outcome, report] = drill(scenario(), {"--keep"});
  ASSERT_TRUE(report.is_object()) << outcome.output;
  const std::string run_id = report["run_id"];
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);

  // Every acknowledged order carries the shop's id, taken from its answer; the failed ones keep
  // firedrill's (the shop never gave them one).
  const auto ids = ids_given_by_service(run_id, "orders", [](const std::string& id) { return id.starts_with("o-"); });
  const std::set<std::string>& acked_ids = ids.acked;
  const long acked = ids.acked_count;
  EXPECT_GT(acked, 500);
  EXPECT_GT(ids.failed, 0) << "the kill was not felt through the shop";

  // Counted a second time, from the shop's database itself.
  const int port = testing::published_port(report, "db");
  ASSERT_NE(port, 0) << report["environment"].dump(2);
  const std::set<std::string> present = testing::order_ids_on_primary(port, password, "the shop's database");
  long missing = 0;
  for (const auto& id : acked_ids) missing += present.count(id) == 0;
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(report["measured"]["acked_writes"].get<long>(), acked);
  EXPECT_EQ(report["measured"]["lost_acked_writes"].get<long>(), missing);
  expect_key_nowhere();

  EXPECT_EQ(firedrill({"down", run_id}).exit_code, 0);
  expect_nothing_left(run_id);
}

TEST_F(OwnAppDrill, AReadBackThatCannotRunLeavesTheLossUnknownAndFailsTheDataChecksSayingWhy) {
  auto [outcome, report] = drill(scenario("SELECT id FROM no_such_orders WHERE id = ANY($1)"));
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_EQ(report["verdict"], "fail");
  EXPECT_TRUE(report["measured"]["lost_acked_writes"].is_null()) << report["measured"].dump(2);
  EXPECT_GT(report["measured"]["acked_writes"].get<long>(), 500);
  int failed_data_checks = 0;
  for (const auto& check : report["checks"]) {
    const std::string name = check["name"];
    if (name != "lost_acked_writes(overall)" && name != "rpo(overall)") continue;
    EXPECT_FALSE(check["passed"].get<bool>()) << check.dump();
    EXPECT_NE(check["detail"].get<std::string>().find("no_such_orders"), std::string::npos) << check.dump();
    ++failed_data_checks;
  }
  EXPECT_EQ(failed_data_checks, 2) << report["checks"].dump(2);
  EXPECT_NE(read_file(run_dir_ / "readback.jsonl").find("\"error\""), std::string::npos);
  expect_key_nowhere();
  expect_nothing_left(report["run_id"]);
}

/// third-party-app-redmine.yaml with a known database password and Redmine's API key in the
/// environment firedrill inherits.
class ThirdPartyAppDrill : public LibraryDrill {
 protected:
  static constexpr const char* password = "third-party-test-password";
  static constexpr const char* api_key = "redmineDrillKey5d1c8e2a";

  fs::path scenario() {
    ::setenv("REDMINE_API_KEY", api_key, 1);
    return variant_with_password("third-party-app-redmine.yaml", password);
  }
};

TEST_F(ThirdPartyAppDrill, RedmineFiledThroughItsRestApiLosesNoAcknowledgedIssueCountedFromItsDatabase) {
  auto [outcome, report] = drill(scenario(), {"--keep"});
  ASSERT_TRUE(report.is_object()) << outcome.output;
  const std::string run_id = report["run_id"];
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);

  // Every acknowledged issue carries the number Redmine gave it; a failed write keeps firedrill's
  // id (Redmine never numbered it).
  const auto ids = ids_given_by_service(run_id, "issues", [](const std::string& id) {
    return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; });
  });
  const std::set<std::string>& numbers = ids.acked;
  const long acked = ids.acked_count;
  EXPECT_GT(acked, 40);
  EXPECT_GT(ids.failed, 0) << "the kill was not felt through Redmine";

  // Counted a second time, from Redmine's own tables: each acknowledged number is an issue whose
  // subject names a write of this run.
  const int port = testing::published_port(report, "db");
  ASSERT_NE(port, 0) << report["environment"].dump(2);
  std::map<std::string, std::string> subject_of;
  for (const auto& row : testing::order_ids_on_primary(port, password, "Redmine's database",
                                                       "SELECT id::text || ' ' || subject FROM issues"))
    subject_of[row.substr(0, row.find(' '))] = row.substr(row.find(' ') + 1);
  long missing = 0;
  for (const auto& number : numbers) {
    const auto found = subject_of.find(number);
    missing += found == subject_of.end();
    if (found != subject_of.end()) {
      EXPECT_TRUE(found->second.starts_with("drill write " + run_id + "-issues-")) << found->second;
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_GE(subject_of.size(), numbers.size());
  EXPECT_EQ(report["measured"]["acked_writes"].get<long>(), acked);
  EXPECT_EQ(report["measured"]["lost_acked_writes"].get<long>(), missing);

  // Down from the kill until Postgres took writes again and Redmine reconnected: longer than the
  // 2 s the container stayed dead, within the scenario's target.
  const double rto = report["measured"]["rto_seconds"].get<double>();
  EXPECT_GT(rto, 2.0);
  EXPECT_LE(rto, 30.0);
  RecordProperty("rto_seconds", std::to_string(rto));
  RecordProperty("acked_writes", std::to_string(acked));
  EXPECT_EQ(testing::files_holding(run_dir_, api_key), std::vector<std::string>{});
  EXPECT_EQ(testing::files_holding(run_dir_, password), std::vector<std::string>{});

  EXPECT_EQ(firedrill({"down", run_id}).exit_code, 0);
  expect_nothing_left(run_id);
}

}  // namespace
}  // namespace firedrill
