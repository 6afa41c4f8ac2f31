// The Postgres point-in-time recovery drills end to end: the real command line, engine, images,
// WAL archiving, pg_basebackup and app. The bad-migration drill's "nothing acknowledged before the
// drop is lost" is counted a second time here, independently of the engine: the test reads the
// restored database itself and compares it with acks.jsonl.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

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
constexpr const char* database_password = "dr-test-password";

class DrDrill : public testing::EngineTest {
 protected:
  void TearDown() override {
    if (!kept_run_.empty()) firedrill({"down", kept_run_});
    if (!run_id_.empty()) {
      auto left = testing::run_command({"docker", "ps", "-aq", "--filter", "label=io.firedrill.run=" + run_id_},
                                       std::chrono::seconds(30));
      EXPECT_EQ(left.output, "") << "containers of run " << run_id_ << " were left behind";
    }
    testing::EngineTest::TearDown();
  }

  /// A copy of a library scenario with pieces of text replaced.
  fs::path variant(const std::string& name, const std::vector<std::pair<std::string, std::string>>& replacements) {
    std::string text = read_file(source_dir / "scenarios" / name);
    for (const auto& [from, to] : replacements) {
      auto at = text.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) text.replace(at, from.size(), to);
    }
    auto path = out_ / name;
    std::ofstream(path) << text;
    return path;
  }

  static const nlohmann::json& step_named(const nlohmann::json& report, const std::string& name) {
    for (const auto& step : report.at("steps"))
      if (step.value("name", "") == name) return step;
    throw std::runtime_error("no step '" + name + "' in the report");
  }

  /// The restore's phases were measured, in its details and in its restore.finished event.
  void expect_phases_recorded(const nlohmann::json& restore) {
    const auto& phases = restore["details"]["phases"];
    for (const char* phase : {"checksum_seconds", "archive_seconds", "fetch_seconds", "restore_seconds", "replay_seconds",
                              "start_seconds", "verify_seconds", "total_seconds"}) {
      ASSERT_TRUE(phases.contains(phase)) << phase << " missing from " << phases.dump();
      EXPECT_GT(phases[phase].get<double>(), 0.0) << phase;
    }
    EXPECT_LE(phases["replay_seconds"].get<double>(), phases["total_seconds"].get<double>());
    bool recorded = false;
    for (const Event& event : read_events(run_dir_ / "events.jsonl"))
      if (event.kind == "restore.finished" && event.details.value("outcome", "") == "ok")
        recorded = event.details["phases"] == phases;
    EXPECT_TRUE(recorded) << "no restore.finished event with the step's phases";
  }

  /// pg-pitr-clock-skew with a password the test knows (so it can read the restored server
  /// itself) and the restore's target.
  fs::path clock_skew_scenario(const std::string& target) {
    return variant("pg-pitr-clock-skew.yaml",
                   {{"db: { kind: postgres }", std::string("db: { kind: postgres, env: { POSTGRES_PASSWORD: ") +
                                                   database_password + " } }"},
                    {"to: \"incident - 2s\"", target}});
  }

  std::string kept_run_;
};

TEST_F(DrDrill, PitrBeforeABadMigrationKeepsEveryWriteAcknowledgedBeforeIt) {
  auto scenario = variant("pg-pitr-bad-migration.yaml",
                          {{"db: { kind: postgres }", std::string("db: { kind: postgres, env: { POSTGRES_PASSWORD: ") +
                                                          database_password + " } }"}});
  auto [outcome, report] = drill(scenario, {"--keep"});
  ASSERT_FALSE(report.is_null()) << outcome.output;
  kept_run_ = run_id_;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  const auto& measured = report["measured"];
  EXPECT_EQ(measured["lost_acked_writes"], 0);
  EXPECT_EQ(measured["rpo_seconds"], 0.0);
  EXPECT_GT(measured["rto_seconds"].get<double>(), 0.0);

  // The restore stopped just before the migration's own transaction.
  const auto& migration = step_named(report, "bad migration");
  ASSERT_EQ(migration["outcome"], "ok") << migration.dump(2);
  const auto xid = migration["details"]["xid"].get<long long>();
  const auto& restore = step_named(report, "point-in-time restore");
  ASSERT_EQ(restore["outcome"], "ok") << restore.dump(2);
  EXPECT_EQ(restore["details"]["target"]["xid"].get<long long>(), xid);
  EXPECT_NE(restore["details"]["recovery_stopped"].get<std::string>().find(
                "before commit of transaction " + std::to_string(xid)),
            std::string::npos)
      << restore["details"].dump(2);
  expect_phases_recorded(restore);

  // The WAL went to the run's repository, beside the base backup.
  std::size_t archived = 0;
  for (const auto& entry : fs::directory_iterator(run_dir_ / "backups" / "wal" / "db"))
    if (entry.path().extension() == ".gz") ++archived;
  EXPECT_GT(archived, 2u);

  const int port = testing::published_port(report, "db");
  ASSERT_NE(port, 0) << report["environment"].dump(2);
  const std::set<std::string> present = testing::order_ids_on_primary(port, database_password, "the restored server");

  Micros drop_started = 0;
  for (const Event& event : read_events(run_dir_ / "events.jsonl"))
    if (event.kind == event_kind::step_started && event.details.value("step", "") == "bad migration") drop_started = event.t;
  ASSERT_GT(drop_started, 0);
  long acked_before_drop = 0, missing_before_drop = 0;
  std::string first_missing;
  for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl")) {
    if (ack.outcome != WriteOutcome::ok || *ack.acked >= drop_started) continue;
    ++acked_before_drop;
    if (!present.count(ack.id)) {
      ++missing_before_drop;
      if (first_missing.empty()) first_missing = ack.id;
    }
  }
  EXPECT_GT(acked_before_drop, 150) << "too few writes before the drop to prove anything";
  EXPECT_EQ(missing_before_drop, 0) << "e.g. " << first_missing;
}

TEST_F(DrDrill, PgbackrestBackupUnderLoadRestoresBeforeABadMigrationWithoutLosingAnAcknowledgedWrite) {
  auto scenario = variant("pg-pitr-pgbackrest.yaml",
                          {{"db: { kind: postgres }", std::string("db: { kind: postgres, env: { POSTGRES_PASSWORD: ") +
                                                          database_password + " } }"}});
  auto [outcome, report] = drill(scenario, {"--keep"});
  ASSERT_FALSE(report.is_null()) << outcome.output;
  kept_run_ = run_id_;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  EXPECT_EQ(report["measured"]["rpo_seconds"], 0.0);

  // The backup is pgbackrest's full set, described by firedrill's manifest with its digests.
  const auto& backup = step_named(report, "pgbackrest backup");
  ASSERT_EQ(backup["outcome"], "ok") << backup.dump(2);
  const fs::path folder = run_dir_ / "backups" / backup["details"]["backup_id"].get<std::string>();
  const auto manifest = nlohmann::json::parse(read_file(folder / "manifest.json"));
  EXPECT_EQ(manifest["method"], "pgbackrest");
  EXPECT_EQ(manifest["files_root"], "pgbackrest/db");
  EXPECT_NE(manifest["tools"]["pgbackrest"].get<std::string>().find("pgBackRest 2."), std::string::npos);
  const auto& facts = manifest["postgres"];
  EXPECT_TRUE(std::regex_match(facts["label"].get<std::string>(), std::regex(R"(\d{8}-\d{6}F)"))) << facts.dump(2);
  EXPECT_TRUE(std::regex_match(facts["lsn_start"].get<std::string>(), std::regex("[0-9A-F]+/[0-9A-F]+"))) << facts.dump(2);
  EXPECT_LE(facts["wal_start_file"].get<std::string>(), facts["wal_end_file"].get<std::string>());
  bool has_backup_manifest = false, has_wal = false;
  for (const auto& file : manifest["files"]) {
    const fs::path path = run_dir_ / "backups" / "pgbackrest" / "db" / file["name"].get<std::string>();
    ASSERT_TRUE(fs::is_regular_file(path)) << path;
    EXPECT_EQ(fs::file_size(path), file["bytes"].get<std::uintmax_t>()) << path;
    has_backup_manifest = has_backup_manifest || path.filename() == "backup.manifest";
    has_wal = has_wal || file["name"].get<std::string>().starts_with("archive/db/");
  }
  EXPECT_TRUE(has_backup_manifest);
  EXPECT_TRUE(has_wal) << "the WAL the set needs to be consistent is part of it";
  EXPECT_FALSE(read_file(run_dir_ / "backups" / "pgbackrest" / "db" / "backup" / "db" / "backup.info").empty());

  const auto& verified = step_named(report, "verify the backup");
  ASSERT_EQ(verified["outcome"], "ok") << verified.dump(2);
  EXPECT_EQ(verified["details"]["checks"]["pgbackrest_verify"], "ok");
  EXPECT_EQ(verified["details"]["checks"]["amcheck"], "ok");

  const auto& migration = step_named(report, "bad migration");
  ASSERT_EQ(migration["outcome"], "ok") << migration.dump(2);
  const auto xid = migration["details"]["xid"].get<long long>();
  const auto& restore = step_named(report, "point-in-time restore");
  ASSERT_EQ(restore["outcome"], "ok") << restore.dump(2);
  EXPECT_EQ(restore["details"]["method"], "pgbackrest");
  EXPECT_EQ(restore["details"]["target"]["xid"].get<long long>(), xid);
  EXPECT_NE(restore["details"]["recovery_stopped"].get<std::string>().find(
                "before commit of transaction " + std::to_string(xid)),
            std::string::npos)
      << restore["details"].dump(2);
  expect_phases_recorded(restore);

  const int port = testing::published_port(report, "db");
  ASSERT_NE(port, 0) << report["environment"].dump(2);
  const std::set<std::string> present = testing::order_ids_on_primary(port, database_password, "the restored server");
  Micros drop_started = 0, backup_started = 0, backup_finished = 0;
  for (const Event& event : read_events(run_dir_ / "events.jsonl")) {
    if (event.kind == event_kind::step_started && event.details.value("step", "") == "bad migration") drop_started = event.t;
    if (event.kind == "backup.started") backup_started = event.t;
    if (event.kind == "backup.finished") backup_finished = event.t;
  }
  ASSERT_GT(drop_started, 0);
  long acked_before_drop = 0, missing_before_drop = 0, acked_during_backup = 0;
  std::string first_missing;
  for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl")) {
    if (ack.outcome != WriteOutcome::ok || *ack.acked >= drop_started) continue;
    ++acked_before_drop;
    if (*ack.acked > backup_started && *ack.acked < backup_finished) ++acked_during_backup;
    if (!present.count(ack.id)) {
      ++missing_before_drop;
      if (first_missing.empty()) first_missing = ack.id;
    }
  }
  EXPECT_GT(acked_during_backup, 20) << "the backup was not taken under the app's write load";
  EXPECT_GT(acked_before_drop, 150) << "too few writes before the drop to prove anything";
  EXPECT_EQ(missing_before_drop, 0) << "e.g. " << first_missing;
}

TEST_F(DrDrill, CorruptedRelationIsDetectedAndRestoredFromBaseBackupAndWal) {
  auto [outcome, report] = drill(source_dir / "scenarios" / "pg-corruption-restore.yaml");
  ASSERT_FALSE(report.is_null()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  const auto& measured = report["measured"];
  ASSERT_TRUE(measured["rpo_seconds"].is_number()) << measured.dump(2);
  EXPECT_EQ(measured["lost_acked_writes"], 0);
  EXPECT_GT(measured["rto_seconds"].get<double>(), 0.0);

  // Detected by a checksum failure on reading the damaged table.
  const auto& detection = step_named(report, "checksum failure detected");
  ASSERT_EQ(detection["outcome"], "ok") << detection.dump(2);
  EXPECT_NE(detection["details"]["error"].get<std::string>().find("invalid page in block"), std::string::npos)
      << detection.dump(2);
  // The generated database password (36 hex digits) reaches nothing the run wrote beside the
  // backups: not the sql steps' details or errors, the events or the logs.
  const std::regex generated_secret("(^|[^0-9a-f])[0-9a-f]{36}([^0-9a-f]|$)");
  for (const auto& entry : fs::recursive_directory_iterator(run_dir_)) {
    if (entry.is_regular_file() && entry.path().string().find("/backups/") == std::string::npos) {
      EXPECT_FALSE(std::regex_search(read_file(entry.path()), generated_secret)) << entry.path();
    }
  }
  bool recorded = false;
  for (const Event& event : read_events(run_dir_ / "events.jsonl"))
    recorded = recorded || (event.kind == "sql.failed_as_expected" && event.details.value("step", "") == "checksum failure detected");
  EXPECT_TRUE(recorded);

  const auto& restore = step_named(report, "restore from base backup and WAL");
  ASSERT_EQ(restore["outcome"], "ok") << restore.dump(2);
  EXPECT_EQ(restore["details"]["recovery_stopped"], "at the end of the archive");
  EXPECT_NE(restore["details"]["old_server"].get<std::string>().find("fenced"), std::string::npos) << restore.dump(2);
  expect_phases_recorded(restore);
}

TEST_F(DrDrill, PitrToIncidentMinusOneSecondLosesThatSecondAndMeasuresIt) {
  auto scenario = variant("pg-pitr-bad-migration.yaml", {{"before: bad migration", "to: \"incident - 1s\""}});
  auto [outcome, report] = drill(scenario);
  ASSERT_FALSE(report.is_null()) << outcome.output;
  // The second before the incident is given up on purpose: the RPO objective of 0 s is missed.
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_EQ(report["verdict"], "fail");
  const auto& restore = step_named(report, "point-in-time restore");
  ASSERT_EQ(restore["outcome"], "ok") << restore.dump(2);
  const Micros incident = parse_rfc3339(report["incident_at"].get<std::string>());
  EXPECT_EQ(parse_rfc3339(restore["details"]["target"]["time"].get<std::string>()), incident - 1'000'000);
  EXPECT_NE(restore["details"]["recovery_stopped"].get<std::string>().find("before commit of transaction"), std::string::npos)
      << restore["details"].dump(2);
  const auto& measured = report["measured"];
  EXPECT_GT(measured["lost_acked_writes"].get<long>(), 20) << "a second of writes at 50/s";
  // T0 is when the migration's step started; the writes acknowledged between then and its
  // commit (the psql exec: tens of ms, more on a loaded machine) are lost too and counted apart,
  // and no others.
  Micros committed = 0;
  for (const Event& event : read_events(run_dir_ / "events.jsonl"))
    if (event.kind == "sql.executed" && event.details.value("step", "") == "bad migration")
      committed = parse_rfc3339(event.details.value("committed_at", ""));
  ASSERT_GT(committed, incident);
  long acked_before_commit = 0;
  for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl"))
    if (ack.outcome == WriteOutcome::ok && *ack.acked >= incident && *ack.acked <= committed) ++acked_before_commit;
  EXPECT_LE(measured["lost_acked_after_incident"].get<long>(), acked_before_commit)
      << "T0 " << format_rfc3339_micros(incident) << ", migration committed " << format_rfc3339_micros(committed);
  // The earliest lost write was acknowledged just after the target, T0 - 1 s: no later than the
  // first write acknowledged a quarter of a second after it (a write committed before the target
  // may be acknowledged after it, and a loaded machine may leave a gap in the writes).
  const Micros target = incident - 1'000'000;
  Micros surely_after_target = incident;
  for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl"))
    if (ack.outcome == WriteOutcome::ok && *ack.acked >= target + 250'000)
      surely_after_target = std::min(surely_after_target, *ack.acked);
  EXPECT_GE(measured["rpo_seconds"].get<double>(), static_cast<double>(incident - surely_after_target) / 1e6 - 0.001);
  EXPECT_GT(measured["rpo_seconds"].get<double>(), 0.5);
  EXPECT_LE(measured["rpo_seconds"].get<double>(), 1.0);
}

// The server's clock ran 90 s ahead from just after the base backup: a restore to "incident - 2s"
// in true time stops where the skew began, and every order acknowledged since is lost, counted
// again here from the restored server.
TEST_F(DrDrill, AClockAheadMakesATimeTargetLoseEveryWriteSinceTheSkewBegan) {
  auto [outcome, report] = drill(clock_skew_scenario("to: \"incident - 2s\""), {"--keep"});
  ASSERT_FALSE(report.is_null()) << outcome.output;
  kept_run_ = run_id_;
  EXPECT_EQ(outcome.exit_code, 0) << "the drill fails as it expects: " << outcome.output;
  EXPECT_EQ(report["verdict"], "fail");
  EXPECT_EQ(report["expected"], "fail");
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump(2);
  const auto& fault = report["faults"][0];
  EXPECT_EQ(fault["type"], "clock-skew");
  EXPECT_NEAR(fault["details"]["shown_offset_seconds"].get<double>(), 90.0, 0.5) << fault.dump(2);
  const auto& restore = step_named(report, "point-in-time restore");
  ASSERT_EQ(restore["outcome"], "ok") << restore.dump(2);

  const Micros skewed = parse_rfc3339(fault["injected_at"].get<std::string>());
  const Micros incident = parse_rfc3339(report["incident_at"].get<std::string>());
  const int port = testing::published_port(report, "db");
  ASSERT_NE(port, 0) << report["environment"].dump(2);
  const std::set<std::string> present = testing::order_ids_on_primary(port, database_password, "the restored server");
  long acked = 0, missing = 0, missing_before_skew = 0, missing_since_skew = 0;
  for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl")) {
    if (ack.outcome != WriteOutcome::ok) continue;
    ++acked;
    if (present.count(ack.id)) continue;
    ++missing;
    // The skew reaches the server's processes up to a second before the fault returns.
    if (*ack.acked < skewed - 1'500'000) ++missing_before_skew;
    else if (*ack.acked < incident - 2'000'000) ++missing_since_skew;
  }
  const auto& measured = report["measured"];
  EXPECT_EQ(measured["acked_writes"].get<long>(), acked);
  EXPECT_EQ(measured["lost_acked_writes"].get<long>(), missing);
  EXPECT_EQ(missing_before_skew, 0) << "what was committed before the skew is restored";
  EXPECT_GT(missing_since_skew, 100) << "the writes between the skew and the target were kept: the clock did not matter";
  // Far more than the 2 s the target gives up: from the skew (5 s before the incident) on.
  EXPECT_GT(measured["rpo_seconds"].get<double>(), 4.0);
  RecordProperty("lost_acked_writes", std::to_string(missing));
  RecordProperty("rpo_seconds", std::to_string(measured["rpo_seconds"].get<double>()));
}

// The same skew with a transaction-based target, which no clock moves: nothing acknowledged is lost.
TEST_F(DrDrill, AClockAheadLeavesATransactionTargetLosingNothing) {
  auto [outcome, report] = drill(clock_skew_scenario("before: bad migration"));
  ASSERT_FALSE(report.is_null()) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  EXPECT_EQ(outcome.exit_code, 1) << "pass where the scenario expects a failure: " << outcome.output;
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  EXPECT_EQ(report["measured"]["rpo_seconds"], 0.0);
}

// Ctrl-C while the clock is skewed: the skew is reverted (teardown reverts faults first), and
// nothing of the run is left.
TEST_F(DrDrill, AnInterruptWhileTheClockIsSkewedRevertsItAndLeavesNothing) {
  const fs::path scenario = clock_skew_scenario("to: \"incident - 2s\"");
  const fs::path runs = out_ / "interrupted";
  fs::create_directories(runs);
  const fs::path log = out_ / "interrupted.log";
  const int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", runs.string()}, log.string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (read_file(log).find("orders keep coming") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGINT);
  EXPECT_EQ(testing::wait_command(pid), 130) << read_file(log);
  fs::path run;
  for (const auto& entry : fs::directory_iterator(runs))
    if (entry.is_directory()) run = entry.path();
  ASSERT_FALSE(run.empty());
  bool reverted = false;
  for (const Event& event : read_events(run / "events.jsonl"))
    reverted = reverted || (event.kind == event_kind::fault_reverted && event.details.value("fault", "") == "clock-skew");
  EXPECT_TRUE(reverted) << "the skew was not reverted";
  const auto left = count_labelled(run.filename().string());
  EXPECT_EQ(left.containers + left.networks + left.volumes, 0);
}

TEST_F(DrDrill, ATargetBeforeTheBaseBackupIsRefusedWithTheReason) {
  auto scenario = variant("pg-pitr-bad-migration.yaml", {{"before: bad migration", "before: warm up"}});
  auto [outcome, report] = drill(scenario);
  ASSERT_FALSE(report.is_null()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_EQ(report["verdict"], "fail");
  const auto& restore = step_named(report, "point-in-time restore");
  EXPECT_EQ(restore["outcome"], "failed");
  const std::string error = restore.value("error", "");
  EXPECT_NE(error.find("before step 'warm up'"), std::string::npos) << error;
  EXPECT_NE(error.find("restore an older base backup"), std::string::npos) << error;
}

}  // namespace
}  // namespace firedrill
