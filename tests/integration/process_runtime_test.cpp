// Drills on the `process` runtime through the real command line: Postgres, Redis and the fixture
// app as processes of this machine, no container engine involved. Each test checks that no process
// of the run is left: none whose working directory, command line or environment is in the run
// directory (every service process works in its service or data directory, which survives postgres
// and redis rewriting their titles over argv and environ) and none that a pid file of the run
// still records.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/runtime/process/child_reaper.hpp"
#include "harness/runtime/process/process_files.hpp"
#include "harness/runtime/process/process_group.hpp"
#include "harness/runtime/process/process_runtime.hpp"
#include "harness/runtime/process/service_cgroup.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using testing::CommandOutcome;
using testing::read_file;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;

/// The pids of processes whose working directory, command line or environment holds `text`. A
/// process that exits while it is looked at is simply not listed.
std::vector<int> processes_naming(const std::string& text) {
  std::vector<int> found;
  for (const int pid : process_ids()) {
    if (pid == ::getpid()) continue;
    std::error_code unreadable;
    const std::string directory = fs::read_symlink(fmt::format("/proc/{}/cwd", pid), unreadable).string();
    const std::string cmdline = read_process_file(pid, "cmdline").value_or("");
    const std::string environment = read_process_file(pid, "environ").value_or("");
    if (directory.starts_with(text) || cmdline.find(text) != std::string::npos || environment.find(text) != std::string::npos)
      found.push_back(pid);
  }
  return found;
}

/// The pid files of a run's services that still record a live process.
int live_pid_files(const fs::path& run_dir) {
  int live = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(run_dir / "services", error))
    if (auto process = read_pid_file(entry.path() / "pid"); process && !process->members().empty()) ++live;
  return live;
}

class ProcessDrill : public ::testing::Test {
 protected:
  void SetUp() override {
    // As the harness does: what a killed harness or service leaves comes here and is reaped.
    adopt_orphans();
    if (::access("/usr/lib/postgresql/15/bin/postgres", X_OK) != 0 || ::access("/usr/bin/redis-server", X_OK) != 0) {
      if (std::getenv("CI")) FAIL() << "postgresql-15 and redis-server are needed; ci/setup installs them";
      GTEST_SKIP() << "postgresql-15 and redis-server are needed";
    }
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    // Short: postgres' Unix socket path must fit in 107 bytes.
    out_ = fs::temp_directory_path() / ("fd-process-" + std::to_string(::getpid()) + "-" + test->name());
    fs::remove_all(out_);
    fs::create_directories(out_);
  }
  void TearDown() override {
    reap_orphans();
    if (out_.empty()) return;
    if (HasFailure()) std::printf("the run directories are kept in %s\n", out_.c_str());
    else fs::remove_all(out_);
  }

  fs::path run_dir() const {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(out_, error))
      if (entry.is_directory()) return entry.path();
    return {};
  }

  std::pair<CommandOutcome, nlohmann::json> drill(const fs::path& scenario, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{FIREDRILL_BINARY, "run", scenario.string(), "--out", out_.string(), "--runtime", "process"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto outcome = testing::run_command(argv, std::chrono::seconds(300));
    nlohmann::json report;
    if (fs::exists(run_dir() / "report.json")) report = nlohmann::json::parse(read_file(run_dir() / "report.json"));
    return {outcome, report};
  }

  /// The quickstart with a 60 s warm-up (written to the test's directory), so a harness killed
  /// meanwhile dies while every service runs; empty when the quickstart has no 3 s warm-up.
  fs::path quickstart_with_a_long_warm_up() const {
    std::string text = read_file(source_dir / "scenarios" / "quickstart.yaml");
    const std::string warm_up = "{ name: warm up, wait: 3s }";
    const auto at = text.find(warm_up);
    if (at == std::string::npos) return {};
    text.replace(at, warm_up.size(), "{ name: warm up, wait: 60s }");
    const fs::path scenario = out_ / "quickstart-long.yaml";
    std::ofstream(scenario) << text;
    return scenario;
  }

  /// drill() expecting a pass (exit 0, verdict pass); the report, null when the run wrote none.
  nlohmann::json passed_drill(const fs::path& scenario, const std::vector<std::string>& extra = {}) {
    auto [outcome, report] = drill(scenario, extra);
    EXPECT_TRUE(report.is_object()) << outcome.output;
    if (!report.is_object()) return nullptr;
    EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
    EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
    return report;
  }

  void expect_nothing_left() {
    const fs::path run = run_dir();
    ASSERT_FALSE(run.empty());
    EXPECT_EQ(processes_naming(fs::absolute(run).string()), std::vector<int>{});
    EXPECT_EQ(live_pid_files(run), 0);
  }

  fs::path out_;
};

TEST_F(ProcessDrill, QuickstartPassesWithPostgresRedisAndTheAppAsLocalProcesses) {
  const auto report = passed_drill(source_dir / "scenarios" / "quickstart.yaml");
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["environment"]["runtime"], "process");
  // Every service listened on loopback, and the database came back from SIGKILL with its data.
  for (const auto& service : report["environment"]["services"])
    EXPECT_TRUE(service["endpoint"].get<std::string>().starts_with("127.0.0.1:")) << service.dump();
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  const std::string db_log = read_file(run_dir() / "logs" / "db.log");
  EXPECT_NE(db_log.find("database system was interrupted"), std::string::npos) << db_log;
  // Security review 2, M13: the app listened on 0.0.0.0, every network of this machine.
  const std::string app_log = read_file(run_dir() / "logs" / "app.log");
  EXPECT_NE(app_log.find("listening on 127.0.0.1:"), std::string::npos) << app_log;
  EXPECT_EQ(app_log.find("0.0.0.0"), std::string::npos) << app_log;
  EXPECT_GT(report["harness"]["bringup_seconds"].get<double>(), 0.0);
  std::printf("process runtime quickstart: bring-up %.2f s\n", report["harness"]["bringup_seconds"].get<double>());
  expect_nothing_left();
}

TEST_F(ProcessDrill, CalibrationPauseMeasuresTheThreeSecondFreeze) {
  const auto report = passed_drill(source_dir / "scenarios" / "calibration-pause.yaml");
  ASSERT_TRUE(report.is_object());
  const auto& rto = report["components"]["overall"]["rto"];
  ASSERT_TRUE(rto["measured_seconds"].is_number()) << report["components"].dump(2);
  const double measured = rto["measured_seconds"].get<double>();
  std::printf("process runtime calibration: measured RTO %.4f s for a 3 s pause\n", measured);
  const auto& quality = report["measured"]["measurement_quality"];
  // max(20 ms, 1 %), as on docker (the goal, max(10 ms, 0.5 %), is what bench/README.md measures),
  // plus the harness's delay when the report says the machine was too loaded to measure exactly.
  const double allowed = quality["verdict"] == "degraded"
                             ? 0.030 + quality.value("scheduling_delay_max_ms", 0.0) / 1000.0
                             : 0.020;
  EXPECT_NEAR(measured, 3.0, allowed) << quality.dump();
  EXPECT_GT(measured, 3.0 - 0.002) << quality.dump();
  expect_nothing_left();
}

TEST_F(ProcessDrill, PartitionCutsTheAppFromPostgresThroughTheFaultProxy) {
  const auto report = passed_drill(source_dir / "scenarios" / "network-partition-app-db.yaml");
  ASSERT_TRUE(report.is_object());
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump(2);
  const auto& details = report["faults"][0]["details"];
  EXPECT_EQ(details["via"], "proxy") << details.dump();
  EXPECT_EQ(details["paths"], nlohmann::json::array({"app->db"})) << details.dump();
  // The app could not take orders for the 10 s of the cut, and took them again once it healed.
  const double rto = report["components"]["overall"]["rto"]["measured_seconds"].get<double>();
  std::printf("process runtime partition: measured RTO %.3f s for a 10 s cut\n", rto);
  EXPECT_GT(rto, 9.0);
  EXPECT_LT(rto, 15.0);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left();
}

/// The step of `report` named `name` (null when there is none).
nlohmann::json step_named(const nlohmann::json& report, const std::string& name) {
  for (const auto& step : report["steps"])
    if (step["name"] == name) return step;
  return nullptr;
}

TEST_F(ProcessDrill, TheSynchronousStandbyIsPromotedAndTheAppRepointedThroughItsProxy) {
  const auto report = passed_drill(source_dir / "scenarios" / "pg-primary-kill-promote.yaml");
  ASSERT_TRUE(report.is_object());
  // The standby was cloned from its primary and streamed from it before the primary died.
  EXPECT_NE(read_file(run_dir() / "logs" / "db-standby-1.log").find("standby cloned from"), std::string::npos);
  EXPECT_EQ(step_named(report, "promote the standby")["outcome"], "ok");
  const auto repoint = step_named(report, "point db at the new primary");
  EXPECT_EQ(repoint["outcome"], "ok") << repoint.dump(2);
  EXPECT_EQ(repoint["details"]["clients"], nlohmann::json::parse(R"([{"rewritten":true,"service":"app","via":"proxy"}])"))
      << repoint.dump(2);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  EXPECT_EQ(report["measured"]["rpo_seconds"], 0.0);
  std::printf("process runtime promote: RTO %.3f s\n", report["components"]["overall"]["rto"]["measured_seconds"].get<double>());
  expect_nothing_left();
}

TEST_F(ProcessDrill, ARehearsalRunsOnLocalProcessesToo) {
  auto outcome = testing::run_command({FIREDRILL_BINARY, "rehearse", (source_dir / "scenarios" / "pg-primary-kill-promote.yaml").string(),
                                       "--out", out_.string(), "--runtime", "process", "--auto-actions"},
                                      std::chrono::seconds(300));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  ASSERT_TRUE(fs::exists(run_dir() / "report.json")) << outcome.output;
  const auto report = nlohmann::json::parse(read_file(run_dir() / "report.json"));
  EXPECT_EQ(report["mode"], "rehearsal");
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  // The manual check completed by itself once the promoted standby left recovery.
  EXPECT_EQ(step_named(report, "confirm the new primary")["human"]["completed_by"], "condition") << report["steps"].dump(2);
  expect_nothing_left();
}

TEST_F(ProcessDrill, APointInTimeRestoreStopsJustBeforeTheBadMigration) {
  const auto report = passed_drill(source_dir / "scenarios" / "pg-pitr-bad-migration.yaml");
  ASSERT_TRUE(report.is_object());
  const auto restore = step_named(report, "point-in-time restore");
  EXPECT_EQ(restore["outcome"], "ok") << restore.dump(2);
  EXPECT_TRUE(restore["details"]["phases"].contains("replay_seconds")) << restore.dump(2);
  // WAL went to the run's repository, through the archive command the process runtime rewrote.
  EXPECT_FALSE(fs::is_empty(run_dir() / "backups" / "wal" / "db"));
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left();
}

TEST_F(ProcessDrill, APgBackRestSetIsVerifiedAndRestoredToJustBeforeTheBadMigration) {
  const auto report = passed_drill(source_dir / "scenarios" / "pg-pitr-pgbackrest.yaml");
  ASSERT_TRUE(report.is_object());
  for (const auto& step : report["steps"]) {
    if (step["verb"] != "action") continue;
    EXPECT_EQ(step["outcome"], "ok") << step.dump(2);
  }
  // pgBackRest kept to the run: its configuration and locks in the services' directories.
  EXPECT_FALSE(fs::exists("/etc/pgbackrest/pgbackrest.conf"));
  EXPECT_FALSE(fs::is_empty(run_dir() / "backups" / "pgbackrest"));
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left();
}

TEST_F(ProcessDrill, BackupsAreVerifiedByRestoringThemIntoScratchProcesses) {
  const auto report = passed_drill(source_dir / "scenarios" / "backup-verify.yaml");
  ASSERT_TRUE(report.is_object());
  std::map<std::string, nlohmann::json> steps;
  for (const auto& step : report["steps"]) steps[step["name"]] = step;
  // The dump was restored into a scratch postgres and holds exactly the rows of its snapshot.
  const auto& database = steps["verify the database backup"];
  EXPECT_EQ(database["outcome"], "ok") << database.dump(2);
  const auto& verified = database["details"]["checks"];
  EXPECT_EQ(verified["amcheck"], "ok") << database.dump(2);
  EXPECT_GT(verified["row_counts"].value("public.orders", 0), 0) << database.dump(2);
  const auto& cache = steps["verify the cache backup"];
  EXPECT_EQ(cache["outcome"], "ok") << cache.dump(2);
  EXPECT_GT(cache["details"]["checks"].value("dbsize", 0), 0) << cache.dump(2);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  for (const auto& name : {"back up the database", "back up the cache"})
    EXPECT_TRUE(fs::exists(steps[name]["details"].value("path", ""))) << steps[name].dump(2);
  // pg_dump wrote to the service's own /tmp, never to this machine's.
  const std::string backup_id = steps["back up the database"]["details"].value("backup_id", "");
  ASSERT_FALSE(backup_id.empty()) << steps["back up the database"].dump(2);
  EXPECT_FALSE(fs::exists("/tmp/fd-backup-" + backup_id + ".dump"));
  expect_nothing_left();
}

TEST_F(ProcessDrill, FullEnvironmentLossIsRebuiltFromTheBackupRepositoryAlone) {
  const auto report = passed_drill(source_dir / "scenarios" / "full-environment-loss.yaml");
  ASSERT_TRUE(report.is_object());
  testing::expect_full_environment_loss_accounted(run_dir(), report, "nightly database backup");
  std::printf("process runtime full-environment-loss: RTO %.3f s, RPO %.3f s\n",
              report["components"]["overall"]["rto"]["measured_seconds"].get<double>(),
              report["measured"]["rpo_seconds"].get<double>());
  expect_nothing_left();
}

TEST_F(ProcessDrill, RedisIsRestoredFromItsRdbBackupAfterItsAofIsDamaged) {
  const auto report = passed_drill(source_dir / "scenarios" / "redis-aof-corruption-restore.yaml");
  ASSERT_TRUE(report.is_object());
  const nlohmann::json* restore = nullptr;
  for (const auto& step : report["steps"])
    if (step["name"] == "restore the cache") restore = &step;
  ASSERT_NE(restore, nullptr) << report["steps"].dump(2);
  EXPECT_GT((*restore)["details"].value("keys", 0), 0) << restore->dump(2);
  EXPECT_TRUE(report["components"]["cache"]["rto"]["met"].get<bool>());
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left();
}

TEST_F(ProcessDrill, PacketLossOffEveryProxiedPathIsRefusedNamingTheRuntime) {
  // Neither the cache nor the database names the other, so no fault proxy stands between them.
  const fs::path scenario = out_ / "loss.yaml";
  std::ofstream(scenario) << "version: 1\n"
                             "name: loss-on-processes\n"
                             "services:\n"
                             "  db: { kind: postgres }\n"
                             "  cache: { kind: redis }\n"
                             "  app: { kind: app, env: { DATABASE_URL: \"${db.url}\", REDIS_URL: \"${cache.url}\" } }\n"
                             "steps:\n"
                             "  - { name: lossy, fault: loss, target: cache, towards: db, percent: 20%, duration: 2s }\n";
  auto [outcome, report] = drill(scenario);
  EXPECT_EQ(outcome.exit_code, 3) << outcome.output;
  EXPECT_NE(outcome.output.find("the process runtime loses packets on the fault proxies between services, and "
                                "'cache' has no path to or from 'db' through one"),
            std::string::npos)
      << outcome.output;
  expect_nothing_left();
}

TEST_F(ProcessDrill, KillNineOfTheHarnessThenCleanupLeavesNoProcessOfTheRun) {
  // A longer warm-up, so the harness dies while every service runs.
  const fs::path scenario = quickstart_with_a_long_warm_up();
  ASSERT_FALSE(scenario.empty());
  const fs::path runs = out_ / "runs";
  const fs::path log = out_ / "firedrill.log";
  const int pid = testing::spawn_command(
      {FIREDRILL_BINARY, "run", scenario.string(), "--out", runs.string(), "--runtime", "process"}, log.string());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (read_file(log).find("warm up") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_NE(read_file(log).find("warm up"), std::string::npos) << read_file(log);
  ::kill(pid, SIGKILL);
  EXPECT_EQ(testing::wait_command(pid), 128 + SIGKILL);

  fs::path run;
  for (const auto& entry : fs::directory_iterator(runs))
    if (entry.is_directory()) run = entry.path();
  ASSERT_FALSE(run.empty());
  const std::string run_id = run.filename().string();
  // The services outlive the harness, as containers would.
  EXPECT_GE(processes_naming(fs::absolute(run).string()).size(), 3u);
  EXPECT_EQ(live_pid_files(run), 3);

  auto cleanup = testing::run_command({FIREDRILL_BINARY, "cleanup", run_id}, std::chrono::seconds(60));
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.output;
  EXPECT_NE(cleanup.output.find(run_id + ": stopped its processes"), std::string::npos) << cleanup.output;
  EXPECT_EQ(processes_naming(fs::absolute(run).string()), std::vector<int>{});
  EXPECT_EQ(live_pid_files(run), 0);
  // Security review 2, M7: nothing of the services (data, the password files, their logs) stays
  // in the run directory CI uploads.
  EXPECT_FALSE(fs::exists(run / "services")) << "the services' data outlived cleanup";
}

TEST_F(ProcessDrill, TheRuntimeRunsPostgresAsTheImageDoesAndSignalsItsGroup) {
  ProcessRuntime runtime(out_);
  std::vector<std::pair<std::string, std::string>> journalled;
  // Security review 2, M7: the initdb password was written into the service's directory before
  // anything was journalled, so a harness killed then left it for no cleanup to find.
  bool directory_existed_when_journalled = false;
  runtime.begin_run("20261125-000000-beef", "runtime-test", Owner::self(), [&](const std::string& kind, const std::string& name) {
    if (journalled.empty()) directory_existed_when_journalled = fs::exists(fs::path(name).parent_path());
    journalled.emplace_back(kind, name);
  });
  ContainerSpec spec;
  spec.service = "db";
  spec.image = "firedrill/postgres:15";
  spec.env = {"POSTGRES_PASSWORD=not-a-secret", "POSTGRES_USER=shop", "POSTGRES_DB=orders"};
  spec.ports = {5432};
  // A descriptor of the harness that is not close-on-exec (as libcurl's sockets are not).
  int harness_pipe[2];
  ASSERT_EQ(::pipe(harness_pipe), 0);
  const std::string harness_pipe_name = fs::read_symlink(fmt::format("/proc/self/fd/{}", harness_pipe[0])).string();
  const ContainerInfo info = runtime.start(spec);
  // The pid file, and the service's cgroup where firedrill can make one, journalled before either exists.
  const auto cgroups = service_cgroup_root();
  ASSERT_EQ(journalled.size(), cgroups ? 2u : 1u);
  EXPECT_EQ(journalled[0], std::make_pair(std::string("process"), (runtime.service_directory("db") / "pid").string()));
  EXPECT_FALSE(directory_existed_when_journalled) << "the service's directory was made before it was journalled";
  if (cgroups) {
    EXPECT_EQ(journalled[1].first, "cgroup");
  }
  EXPECT_EQ(info.ip, "127.0.0.1");
  const int port = info.host_ports.at(5432);
  // None of the service's processes holds anything of the harness's.
  const auto leader = read_pid_file(runtime.service_directory("db") / "pid");
  ASSERT_TRUE(leader);
  for (const int pid : leader->members()) {
    std::error_code unreadable;
    for (const auto& fd : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), unreadable))
      EXPECT_NE(fs::read_symlink(fd.path(), unreadable).string(), harness_pipe_name) << "process " << pid;
  }
  ::close(harness_pipe[0]);
  ::close(harness_pipe[1]);
  EXPECT_NE(port, 5432);
  EXPECT_EQ(runtime.peer_address("db", 5432).host, "127.0.0.1");
  EXPECT_EQ(runtime.peer_address("db", 5432).port, port);

  const auto query = [&](const std::string& sql) {
    return runtime.exec("db", {"psql", "-X", "-tA", "-U", "shop", "-d", "orders", "-c", sql}, std::chrono::seconds(10));
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (query("SELECT 1").exit_code != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (cgroups) {
    // Every process of the service is in it: the postmaster and its helpers, each in a session of its own.
    EXPECT_GE(service_cgroup_processes(journalled[1].second).size(), 3u);
  }
  // The image's semantics: the user and database exist, data checksums are on, TCP on loopback.
  auto checksums = query("SHOW data_checksums");
  EXPECT_EQ(checksums.exit_code, 0) << checksums.output;
  EXPECT_EQ(checksums.output, "on\n");
  EXPECT_EQ(query("SHOW listen_addresses").output, "127.0.0.1\n");
  EXPECT_EQ(query("SHOW port").output, std::to_string(port) + "\n");
  EXPECT_TRUE(fs::exists(runtime.host_path("db", "/var/lib/postgresql/data/PG_VERSION").shown()));
  const fs::path copied = out_ / "PG_VERSION";
  runtime.copy_from("db", "/var/lib/postgresql/data/PG_VERSION", copied);
  EXPECT_EQ(read_file(copied), "15\n");
  EXPECT_THROW(runtime.host_path("db", "/etc/passwd"), EnvironmentError);
  // Its services share this machine's network: it has no namespaces to enter, so network faults
  // act on the proxies between services.
  EXPECT_EQ(runtime.capability<NetworkNamespaces>(), nullptr);
  EXPECT_THROW(network_namespaces(runtime), EnvironmentError);

  // Paused: the server answers nothing until it is continued.
  runtime.pause("db");
  auto frozen = runtime.exec("db", {"psql", "-X", "-tA", "-U", "shop", "-d", "orders", "-c", "SELECT 1"},
                             std::chrono::milliseconds(700));
  EXPECT_EQ(frozen.exit_code, -1) << frozen.output;
  EXPECT_TRUE(runtime.is_running("db"));
  runtime.unpause("db");
  EXPECT_EQ(query("SELECT 2").output, "2\n");

  // SIGKILL takes the whole tree down, the backends in their own sessions too, before kill()
  // returns; start_again brings it back on the same port and data.
  EXPECT_EQ(query("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)").exit_code, 0);
  runtime.kill("db", "KILL");
  EXPECT_FALSE(runtime.is_running("db"));
  EXPECT_EQ(processes_naming(runtime.service_directory("db").string()), std::vector<int>{});
  runtime.start_again("db");
  EXPECT_EQ(runtime.inspect("db").host_ports.at(5432), port);
  const auto back = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (query("SELECT 1").exit_code != 0 && std::chrono::steady_clock::now() < back)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(query("SELECT n FROM kept").output, "7\n");

  runtime.teardown();
  EXPECT_EQ(processes_naming(runtime.service_directory("db").string()), std::vector<int>{});
  EXPECT_FALSE(fs::exists(runtime.service_directory("db")));
  if (cgroups) {
    EXPECT_FALSE(fs::exists(journalled[1].second)) << "the service's cgroup outlived teardown";
  }
}

TEST_F(ProcessDrill, AutoPicksTheProcessRuntimeWithoutAnEngineAndRefusesAnImageItCannotRun) {
  const fs::path scenario = out_ / "unknown-image.yaml";
  std::ofstream(scenario) << "version: 1\n"
                             "name: unknown-image\n"
                             "services:\n"
                             "  web: { kind: container, image: nginx:1.25, port: 80 }\n"
                             "steps:\n"
                             "  - { name: idle, wait: 1s }\n";
  const std::string no_engine = "DOCKER_HOST=unix://" + (out_ / "no-engine.sock").string();
  auto outcome = testing::run_command(
      {"env", no_engine, FIREDRILL_BINARY, "run", scenario.string(), "--out", out_.string()}, std::chrono::seconds(60));
  EXPECT_EQ(outcome.exit_code, 3) << outcome.output;
  EXPECT_NE(outcome.output.find("runtime process (auto: no container engine answers)"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("the process runtime cannot run image 'nginx:1.25' of 'web'"), std::string::npos)
      << outcome.output;
}

/// The lines of /proc/mounts that name `text`.
std::string mounts_naming(const std::string& text) {
  std::istringstream mounts(read_file("/proc/mounts"));
  std::string found;
  for (std::string line; std::getline(mounts, line);)
    if (line.find(text) != std::string::npos) found += line + "\n";
  return found;
}

/// The only run directory under `runs` (empty when there is none).
fs::path only_run_in(const fs::path& runs) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(runs, error))
    if (entry.is_directory()) return entry.path();
  return {};
}

/// Waits up to `limit` for `text` in the file `log`; true when it came.
bool wait_for_line(const fs::path& log, const std::string& text, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (read_file(log).find(text) == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return read_file(log).find(text) != std::string::npos;
}

TEST_F(ProcessDrill, TheNextRunReapsTheProcessesOfARunWhoseHarnessWasKilled) {
  // An index of runs of the test's own, so no other firedrill started meanwhile reaps this run first.
  const std::string state = "FIREDRILL_STATE_DIR=" + (out_ / "state").string();
  const fs::path scenario = quickstart_with_a_long_warm_up();
  ASSERT_FALSE(scenario.empty());

  const fs::path first_runs = out_ / "first";
  const fs::path first_log = out_ / "first.log";
  const int first = testing::spawn_command({"env", state, FIREDRILL_BINARY, "run", scenario.string(), "--out",
                                            first_runs.string(), "--runtime", "process"},
                                           first_log.string());
  ASSERT_TRUE(wait_for_line(first_log, "warm up", std::chrono::seconds(120))) << read_file(first_log);
  ::kill(first, SIGKILL);
  EXPECT_EQ(testing::wait_command(first), 128 + SIGKILL);
  const fs::path run = fs::absolute(only_run_in(first_runs));
  ASSERT_FALSE(run.empty());
  const std::string run_id = run.filename().string();
  EXPECT_GE(processes_naming(run.string()).size(), 3u);
  EXPECT_EQ(live_pid_files(run), 3);
  ASSERT_TRUE(fs::exists(out_ / "state" / "runs" / run_id));

  const fs::path second_runs = out_ / "second";
  const fs::path second_log = out_ / "second.log";
  const int second = testing::spawn_command(
      {"env", state, FIREDRILL_BINARY, "run", (source_dir / "scenarios" / "quickstart.yaml").string(), "--out",
       second_runs.string(), "--runtime", "process"},
      second_log.string());
  // Reaped as the second run starts, long before its drill is over.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!processes_naming(run.string()).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(processes_naming(run.string()), std::vector<int>{});
  EXPECT_EQ(live_pid_files(run), 0);

  EXPECT_EQ(testing::wait_command(second), 0) << read_file(second_log);
  EXPECT_NE(read_file(second_log).find("removed what dead run " + run_id + " left behind"), std::string::npos)
      << read_file(second_log);
  const fs::path second_run = only_run_in(second_runs);
  ASSERT_TRUE(fs::exists(second_run / "report.json")) << read_file(second_log);
  EXPECT_EQ(nlohmann::json::parse(read_file(second_run / "report.json"))["verdict"], "pass");
  // Marked clean: the index of live runs no longer names it, so `cleanup` has nothing left to undo.
  EXPECT_FALSE(fs::exists(out_ / "state" / "runs" / run_id));
  auto cleanup = testing::run_command({"env", state, FIREDRILL_BINARY, "cleanup", run_id}, std::chrono::seconds(60));
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.output;
  EXPECT_EQ(cleanup.output.find("stopped its processes"), std::string::npos) << cleanup.output;
}

TEST_F(ProcessDrill, DiskFullFillsATmpfsOnPostgresDataAndNothingStaysMounted) {
  if (::geteuid() != 0) GTEST_SKIP() << "a size-limited filesystem on the process runtime needs root";
  const auto report = passed_drill(source_dir / "scenarios" / "disk-full-postgres.yaml");
  ASSERT_TRUE(report.is_object());
  const auto& measured = report["measured"];
  ASSERT_TRUE(measured["rto_seconds"].is_number()) << measured.dump(2);
  std::printf("process runtime disk-full: measured RTO %.3f s for 8 s of full disk\n", measured["rto_seconds"].get<double>());
  EXPECT_GT(measured["rto_seconds"].get<double>(), 7.0);
  EXPECT_EQ(measured["lost_acked_writes"], 0);

  const fs::path run = fs::absolute(run_dir());
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump(2);
  const auto& details = report["faults"][0]["details"];
  EXPECT_EQ(details["filesystem"], (run / "services" / "db" / "data").string()) << details.dump();
  EXPECT_EQ(details["free_bytes_after"], 0) << details.dump();
  // The orders failed while the disk was full, with Postgres's ENOSPC.
  ASSERT_FALSE(measured["during_faults"].empty()) << measured.dump(2);
  EXPECT_GT(measured["during_faults"][0]["writes_failed"].get<int>(), 0) << measured.dump(2);
  const std::string db_log = read_file(run / "logs" / "db.log");
  EXPECT_NE(db_log.find("No space left on device"), std::string::npos) << db_log;

  EXPECT_EQ(mounts_naming(run.filename().string()), "");
  expect_nothing_left();
}

TEST_F(ProcessDrill, KillNineDuringDiskFullThenCleanupLeavesNoMountAndNoProcess) {
  if (::geteuid() != 0) GTEST_SKIP() << "a size-limited filesystem on the process runtime needs root";
  const std::string state = "FIREDRILL_STATE_DIR=" + (out_ / "state").string();
  const fs::path runs = out_ / "runs";
  const fs::path log = out_ / "firedrill.log";
  const int pid = testing::spawn_command(
      {"env", state, FIREDRILL_BINARY, "run", (source_dir / "scenarios" / "disk-full-postgres.yaml").string(), "--out",
       runs.string(), "--runtime", "process"},
      log.string());
  // The step after the fault: the disk is full now.
  ASSERT_TRUE(wait_for_line(log, "disk stays full", std::chrono::seconds(120))) << read_file(log);
  const fs::path run = fs::absolute(only_run_in(runs));
  ASSERT_FALSE(run.empty());
  const std::string run_id = run.filename().string();
  EXPECT_NE(mounts_naming(run_id), "");
  ::kill(pid, SIGKILL);
  EXPECT_EQ(testing::wait_command(pid), 128 + SIGKILL);
  EXPECT_NE(mounts_naming(run_id), "");
  EXPECT_EQ(live_pid_files(run), 3);

  auto cleanup = testing::run_command({"env", state, FIREDRILL_BINARY, "cleanup", run_id}, std::chrono::seconds(60));
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.output;
  EXPECT_NE(cleanup.output.find(run_id + ": reverted"), std::string::npos) << cleanup.output;
  EXPECT_NE(cleanup.output.find(run_id + ": stopped its processes"), std::string::npos) << cleanup.output;
  EXPECT_EQ(mounts_naming(run_id), "");
  EXPECT_EQ(processes_naming(run.string()), std::vector<int>{});
  EXPECT_EQ(live_pid_files(run), 0);
}

TEST_F(ProcessDrill, DiskFullWithoutRootIsRefusedSayingItNeedsRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching to an unprivileged user needs root";
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is needed";
  // Everything the unprivileged harness writes is in the test's directory.
  fs::permissions(out_, fs::perms::all);
  const std::string state = "FIREDRILL_STATE_DIR=" + (out_ / "state").string();
  auto outcome = testing::run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", state,
                                       FIREDRILL_BINARY, "run", (source_dir / "scenarios" / "disk-full-postgres.yaml").string(),
                                       "--out", (out_ / "runs").string(), "--runtime", "process"},
                                      std::chrono::seconds(120));
  EXPECT_EQ(outcome.exit_code, 3) << outcome.output;
  EXPECT_NE(outcome.output.find("the process runtime gives 'db' a size-limited filesystem (disk-full, `disk:`) by "
                                "mounting a tmpfs on its data directory, which needs root"),
            std::string::npos)
      << outcome.output;
  const fs::path run = only_run_in(out_ / "runs");
  ASSERT_FALSE(run.empty());
  EXPECT_EQ(processes_naming(fs::absolute(run).string()), std::vector<int>{});
  EXPECT_EQ(live_pid_files(run), 0);
}

TEST_F(ProcessDrill, WithoutRootStandbysPromotionAndPgBackRestRestoresStillWork) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching to an unprivileged user needs root";
  if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "setpriv (util-linux) is needed";
  // The scripts' identity changes (setpriv, runuser, chown) meet the runtime's stand-ins, since
  // every service runs as the one unprivileged user.
  fs::permissions(out_, fs::perms::all);
  const std::string state = "FIREDRILL_STATE_DIR=" + (out_ / "state").string();
  for (const std::string scenario : {"pg-primary-kill-promote.yaml", "pg-pitr-pgbackrest.yaml"}) {
    const fs::path runs = out_ / scenario;
    auto outcome = testing::run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", state,
                                         FIREDRILL_BINARY, "run", (source_dir / "scenarios" / scenario).string(), "--out",
                                         runs.string(), "--runtime", "process"},
                                        std::chrono::seconds(300));
    EXPECT_EQ(outcome.exit_code, 0) << scenario << "\n" << outcome.output;
    const fs::path run = only_run_in(runs);
    ASSERT_FALSE(run.empty()) << scenario;
    const auto report = nlohmann::json::parse(read_file(run / "report.json"));
    EXPECT_EQ(report["verdict"], "pass") << scenario << report["reasons"].dump(2);
    EXPECT_EQ(report["measured"]["lost_acked_writes"], 0) << scenario;
    EXPECT_EQ(processes_naming(fs::absolute(run).string()), std::vector<int>{}) << scenario;
    EXPECT_EQ(live_pid_files(run), 0) << scenario;
  }
}

TEST_F(ProcessDrill, PacketLossTowardsPostgresIsRetransmissionDelayOnTheFaultProxy) {
  // As the Docker drill test does: 8 s of loss, not 20, so the app's health check, which times
  // out now and then while the link is lossy, cannot hold the RTO past its 10 s target.
  std::string text = read_file(source_dir / "scenarios" / "packet-loss-degradation.yaml");
  for (const auto& [from, to] : {std::pair{"duration: 20s", "duration: 8s"}, std::pair{"wait: 20s", "wait: 8s"}}) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, std::string(from).size(), to);
  }
  const fs::path scenario = out_ / "packet-loss-degradation.yaml";
  std::ofstream(scenario) << text;

  const auto report = passed_drill(scenario);
  ASSERT_TRUE(report.is_object());
  ASSERT_EQ(report["faults"].size(), 1u) << report["faults"].dump(2);
  const auto& fault = report["faults"][0];
  EXPECT_EQ(fault["type"], "loss");
  EXPECT_TRUE(fault["reverted_at"].is_string()) << fault.dump();
  const auto& details = fault["details"];
  EXPECT_EQ(details["via"], "proxy") << details.dump();
  EXPECT_EQ(details["percent"], 20.0) << details.dump();
  EXPECT_EQ(details["paths"], nlohmann::json::array({"app->db"})) << details.dump();

  // A lost chunk waits at least one 200 ms retransmission timeout; without loss a write takes a
  // few milliseconds.
  const auto& before = report["measured"]["before_faults"];
  ASSERT_EQ(report["measured"]["during_faults"].size(), 1u) << report["measured"].dump(2);
  const auto& during = report["measured"]["during_faults"][0];
  EXPECT_EQ(during["fault"], "loss");
  const double before_p99 = before["p99_write_latency_ms"].get<double>();
  const double during_p99 = during["p99_write_latency_ms"].get<double>();
  std::printf("process runtime loss: write p50 %.1f -> %.1f ms, p99 %.1f -> %.1f ms, error rate %.3f\n",
              before["p50_write_latency_ms"].get<double>(), during["p50_write_latency_ms"].get<double>(), before_p99,
              during_p99, during["error_rate"].get<double>());
  EXPECT_GE(during_p99, 200.0) << during.dump(2);
  EXPECT_GT(during_p99, before_p99) << report["measured"].dump(2);
  EXPECT_GT(during["p50_write_latency_ms"].get<double>(), before["p50_write_latency_ms"].get<double>());
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left();
}

/// The output of `redis-cli -p <port> ARGS...` on loopback (exit code checked), authenticated
/// with `password` when one is given (REDISCLI_AUTH: never an argument).
std::string redis_cli(int port, const std::vector<std::string>& arguments, const std::string& password = {}) {
  std::vector<std::string> argv{"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port)};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  if (!password.empty()) ::setenv("REDISCLI_AUTH", password.c_str(), 1);
  const auto outcome = testing::run_command(argv, std::chrono::seconds(30));
  ::unsetenv("REDISCLI_AUTH");
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  return outcome.output;
}

/// The user id a process runs as (-1 when it is gone).
long user_of_process(int pid) {
  std::istringstream status(read_file(fs::path("/proc") / std::to_string(pid) / "status"));
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("Uid:")) return std::stol(line.substr(4));
  return -1;
}

// The Sentinel failover drill with redis-server and three redis-sentinel processes on loopback: the
// replica and the sentinels announce 127.0.0.1 and their own ports, Sentinel promotes the replica
// when the master is killed, and the report's lost SETs are exactly those the promoted replica
// lacks. The drill is kept up so that the test can ask a sentinel and the new master itself.
TEST_F(ProcessDrill, SentinelPromotesTheReplicaOnLoopbackAndTheLostSetsAreCountedExactly) {
  // Every user of this machine reaches 127.0.0.1: the group asks for a password (the scenario's,
  // with a space, a quote and a backslash in it).
  const std::string password = R"(loop "pw" \ 7)";
  std::string text = read_file(source_dir / "scenarios" / "redis-master-loss-sentinel.yaml");
  const std::string declared = "  cache: { kind: redis, sentinels: 3, replicas: 1 }\n";
  ASSERT_NE(text.find(declared), std::string::npos);
  text.replace(text.find(declared), declared.size(),
               "  cache: { kind: redis, sentinels: 3, replicas: 1, env: { REDIS_PASSWORD: \"loop \\\"pw\\\" \\\\ 7\" } }\n");
  const fs::path scenario = out_ / "redis-master-loss-sentinel.yaml";
  std::ofstream(scenario) << text;
  auto [outcome, report] = drill(scenario, {"--keep"});
  ASSERT_TRUE(report.is_object()) << outcome.output;
  const std::string run_id = report.value("run_id", "");
  struct KeptRun {
    std::string id;
    void down() {
      if (id.empty()) return;
      const auto removed = testing::run_command({FIREDRILL_BINARY, "down", id}, std::chrono::seconds(120));
      EXPECT_EQ(removed.exit_code, 0) << removed.output;
      id.clear();
    }
    ~KeptRun() { down(); }
  } kept{run_id};
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  EXPECT_EQ(report["environment"]["runtime"], "process");

  const int master_port = testing::published_port(report, "cache");
  const int replica_port = testing::published_port(report, "cache-replica-1");
  const int sentinel_port = testing::published_port(report, "cache-sentinel-2");
  ASSERT_GT(master_port, 0);
  ASSERT_GT(replica_port, 0);
  ASSERT_GT(sentinel_port, 0);
  // A sentinel names the replica, by its loopback address and its own port, as the master now.
  EXPECT_EQ(redis_cli(sentinel_port, {"SENTINEL", "get-master-addr-by-name", "cache"}),
            "127.0.0.1\n" + std::to_string(replica_port) + "\n");
  EXPECT_TRUE(redis_cli(replica_port, {"ROLE"}, password).starts_with("master\n"));
  // Without the password: where the master is, and nothing else.
  EXPECT_TRUE(redis_cli(replica_port, {"GET", "x"}).starts_with("NOAUTH")) << redis_cli(replica_port, {"GET", "x"});
  EXPECT_TRUE(redis_cli(sentinel_port, {"SENTINEL", "failover", "cache"}).starts_with("NOPERM"));
  EXPECT_TRUE(redis_cli(sentinel_port, {"--user", "firedrill", "SENTINEL", "masters"}, password).starts_with("name\n"));
  // As root, the servers and sentinels run as redis; their configuration files are private, and
  // no command line shows the password.
  const std::string services = (run_dir() / "services").string();
  if (::geteuid() == 0) {
    const passwd* redis = ::getpwnam("redis");
    ASSERT_NE(redis, nullptr);
    int servers = 0;
    for (const int pid : processes_naming(fs::absolute(run_dir()).string())) {
      const std::string name = read_file(fs::path("/proc") / std::to_string(pid) / "comm");
      if (!name.starts_with("redis-server") && !name.starts_with("redis-sentinel")) continue;
      ++servers;
      EXPECT_EQ(user_of_process(pid), static_cast<long>(redis->pw_uid)) << name;
    }
    EXPECT_EQ(servers, 4);  // the promoted replica and three sentinels: the master was killed
  }
  for (const std::string file : {"cache/redis.conf", "cache-replica-1/redis.conf", "cache-sentinel-1/data/sentinel.conf"}) {
    struct stat status {};
    ASSERT_EQ(::stat((run_dir() / "services" / file).c_str(), &status), 0) << file;
    EXPECT_EQ(status.st_mode & 077, 0u) << file;
  }
  EXPECT_EQ(testing::run_command({"sh", "-c", "ps -eo args | grep -F -e 'loop \"pw' -e 'requirepass' | grep -v grep"},
                                 std::chrono::seconds(10))
                .output,
            "");
  EXPECT_NE(read_file(run_dir() / "logs" / "cache-sentinel-1.log")
                .find("+switch-master cache 127.0.0.1 " + std::to_string(master_port) + " 127.0.0.1 " +
                      std::to_string(replica_port)),
            std::string::npos);
  // Each sentinel's configuration lives in its own service directory, announcing its own port.
  const std::string configuration = read_file(run_dir() / "services" / "cache-sentinel-2" / "data" / "sentinel.conf");
  EXPECT_NE(configuration.find("sentinel announce-port " + std::to_string(sentinel_port)), std::string::npos)
      << configuration;

  // The `sets` writer's keys that survived on the new master, against its acknowledged writes.
  std::map<std::string, bool> present;
  std::istringstream keys(redis_cli(replica_port, {"--scan", "--pattern", run_id + "-sets-*"}, password));
  for (std::string key; std::getline(keys, key);)
    if (!key.empty()) present[key] = true;
  long acked = 0, lost = 0;
  std::istringstream acks(read_file(run_dir() / "acks.jsonl"));
  for (std::string line; std::getline(acks, line);) {
    if (line.empty()) continue;
    const auto ack = nlohmann::json::parse(line);
    if (ack.value("writer", "") != "sets" || ack.value("outcome", "") != "ok") continue;
    ++acked;
    if (!present.count(ack.value("id", ""))) ++lost;
  }
  EXPECT_GT(acked, 500) << "the writer wrote too little to measure anything";
  std::string detail;
  for (const auto& check : report["checks"])
    if (check["name"] == "lost_acked_writes(cache)") detail = check["detail"];
  long counted_lost = -1, counted_acked = -1;
  std::string of;
  std::istringstream(detail) >> counted_lost >> of >> counted_acked;
  EXPECT_EQ(of, "of") << detail;
  EXPECT_EQ(counted_lost, lost) << detail;
  EXPECT_EQ(counted_acked, acked) << detail;
  EXPECT_EQ(report["measured"]["lost_acked_writes"].get<long>(), lost);

  // The cache was down for real (Sentinel waits its down-after time) and came back in target.
  const auto& cache = report["components"]["cache"];
  ASSERT_TRUE(cache["rto"]["measured_seconds"].is_number()) << cache.dump(2);
  const double rto = cache["rto"]["measured_seconds"].get<double>();
  std::printf("process runtime sentinel failover: cache RTO %.3f s; %ld of %ld acknowledged SETs lost\n", rto, lost,
              acked);
  EXPECT_GT(rto, 1.0);
  EXPECT_LT(rto, 15.0);
  EXPECT_TRUE(cache["rto"]["met"].get<bool>());

  kept.down();
  expect_nothing_left();
}

// Last of the process-runtime group (ctest runs a group's tests in the order they are declared):
// whatever the drills above started is gone, and nothing of theirs was left as a zombie for a
// PID 1 that may never reap it.
TEST(ProcessRuntimeAfterTheGroup, NoProcessOrZombieOfAnyRunIsLeft) {
  const std::string runs = (fs::temp_directory_path() / "fd-process-").string();
  EXPECT_EQ(processes_naming(runs), std::vector<int>{});
  const std::set<std::string> service_programs = {"postgres", "redis-server", "redis-sentinel", "firedrill-app",
                                                  "pgbackrest", "pg_ctl", "initdb", "psql", "firedrill"};
  std::vector<std::string> zombies;
  for (const int pid : process_ids()) {
    const auto stat = read_process_stat(pid);
    // A zombie whose parent lives is reaped by it soon; one of PID 1's (or this process's) may stay.
    if (!stat || stat->state != 'Z' || (stat->parent != 1 && stat->parent != ::getpid())) continue;
    std::string name = read_process_file(pid, "comm").value_or("");
    if (!name.empty() && name.back() == '\n') name.pop_back();
    if (service_programs.contains(name)) zombies.push_back(fmt::format("{} ({}, parent {})", pid, name, stat->parent));
  }
  EXPECT_EQ(zombies, std::vector<std::string>{});

  // Nor anything a Postgres killed outright keeps outside its data directory: a System V segment
  // no process holds whose creator is gone, or dynamic shared memory in /dev/shm (containers have
  // an IPC namespace and a /dev/shm of their own, so whatever is here was a local process's).
  std::vector<std::string> segments;
  std::istringstream listing(read_file("/proc/sysvipc/shm"));
  std::string header;
  std::getline(listing, header);
  for (std::string line; std::getline(listing, line);) {
    std::istringstream fields(line);
    long key = 0, id = 0, perms = 0, size = 0, creator = 0, last = 0, attached = 0;
    fields >> key >> id >> perms >> size >> creator >> last >> attached;
    if (attached == 0 && creator > 0 && ::kill(static_cast<pid_t>(creator), 0) != 0 && errno == ESRCH)
      segments.push_back(fmt::format("shmid {} (key {}, created by pid {})", id, key, creator));
  }
  EXPECT_EQ(segments, std::vector<std::string>{});
  std::vector<std::string> dynamic;
  std::error_code unreadable;
  for (const auto& entry : fs::directory_iterator("/dev/shm", unreadable))
    if (entry.path().filename().string().starts_with("PostgreSQL.")) dynamic.push_back(entry.path().string());
  EXPECT_EQ(dynamic, std::vector<std::string>{});
}

}  // namespace
}  // namespace firedrill
