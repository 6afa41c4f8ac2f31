// Drills on the `process` runtime through the real command line: Postgres, Redis and the fixture
// app as processes of this machine, no container engine involved. Each test checks that no process
// of the run is left: none whose working directory, command line or environment is in the run
// directory (every service process works in its service or data directory, which survives postgres
// and redis rewriting their titles over argv and environ) and none that a pid file of the run
// still records.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness/runtime/process_group.hpp"
#include "harness/runtime/process_runtime.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using testing::CommandOutcome;
using testing::read_file;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;

/// The pids of processes whose working directory, command line or environment holds `text`.
std::vector<int> processes_naming(const std::string& text) {
  std::vector<int> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const int pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    std::error_code unreadable;
    const std::string directory = fs::read_symlink(entry.path() / "cwd", unreadable).string();
    const std::string cmdline = read_file(entry.path() / "cmdline");
    const std::string environment = read_file(entry.path() / "environ");
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

  void expect_nothing_left() {
    const fs::path run = run_dir();
    ASSERT_FALSE(run.empty());
    EXPECT_EQ(processes_naming(fs::absolute(run).string()), std::vector<int>{});
    EXPECT_EQ(live_pid_files(run), 0);
  }

  fs::path out_;
};

TEST_F(ProcessDrill, QuickstartPassesWithPostgresRedisAndTheAppAsLocalProcesses) {
  auto [outcome, report] = drill(source_dir / "scenarios" / "quickstart.yaml");
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  EXPECT_EQ(report["environment"]["runtime"], "process");
  // Every service listened on loopback, and the database came back from SIGKILL with its data.
  for (const auto& service : report["environment"]["services"])
    EXPECT_TRUE(service["endpoint"].get<std::string>().starts_with("127.0.0.1:")) << service.dump();
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  const std::string db_log = read_file(run_dir() / "logs" / "db.log");
  EXPECT_NE(db_log.find("database system was interrupted"), std::string::npos) << db_log;
  EXPECT_GT(report["harness"]["bringup_seconds"].get<double>(), 0.0);
  std::printf("process runtime quickstart: bring-up %.2f s\n", report["harness"]["bringup_seconds"].get<double>());
  expect_nothing_left();
}

TEST_F(ProcessDrill, CalibrationPauseMeasuresTheThreeSecondFreeze) {
  auto [outcome, report] = drill(source_dir / "scenarios" / "calibration-pause.yaml");
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  const auto& rto = report["components"]["overall"]["rto"];
  ASSERT_TRUE(rto["measured_seconds"].is_number()) << report["components"].dump(2);
  const double measured = rto["measured_seconds"].get<double>();
  std::printf("process runtime calibration: measured RTO %.4f s for a 3 s pause\n", measured);
  EXPECT_NEAR(measured, 3.0, std::max(0.020, 0.01 * 3.0));
  expect_nothing_left();
}

TEST_F(ProcessDrill, PartitionCutsTheAppFromPostgresThroughTheFaultProxy) {
  auto [outcome, report] = drill(source_dir / "scenarios" / "network-partition-app-db.yaml");
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
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

TEST_F(ProcessDrill, PacketLossIsRefusedNamingTheRuntime) {
  const fs::path scenario = out_ / "loss.yaml";
  std::ofstream(scenario) << "version: 1\n"
                             "name: loss-on-processes\n"
                             "services:\n"
                             "  db: { kind: postgres }\n"
                             "  cache: { kind: redis }\n"
                             "  app: { kind: app, env: { DATABASE_URL: \"${db.url}\", REDIS_URL: \"${cache.url}\" } }\n"
                             "steps:\n"
                             "  - { name: lossy, fault: loss, target: app, towards: db, percent: 20%, duration: 2s }\n";
  auto [outcome, report] = drill(scenario);
  EXPECT_EQ(outcome.exit_code, 3) << outcome.output;
  EXPECT_NE(outcome.output.find("the process runtime cannot change the network of 'app'"), std::string::npos)
      << outcome.output;
  EXPECT_NE(outcome.output.find("loss needs --runtime docker"), std::string::npos) << outcome.output;
  expect_nothing_left();
}

TEST_F(ProcessDrill, KillNineOfTheHarnessThenCleanupLeavesNoProcessOfTheRun) {
  // A longer warm-up, so the harness dies while every service runs.
  std::string text = read_file(source_dir / "scenarios" / "quickstart.yaml");
  const std::string warm_up = "{ name: warm up, wait: 3s }";
  ASSERT_NE(text.find(warm_up), std::string::npos);
  text.replace(text.find(warm_up), warm_up.size(), "{ name: warm up, wait: 60s }");
  const fs::path scenario = out_ / "quickstart-long.yaml";
  std::ofstream(scenario) << text;
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
}

TEST_F(ProcessDrill, TheRuntimeRunsPostgresAsTheImageDoesAndSignalsItsGroup) {
  ProcessRuntime runtime(out_);
  std::vector<std::pair<std::string, std::string>> journalled;
  runtime.begin_run("20261125-000000-beef", "runtime-test", Owner::self(),
                    [&](const std::string& kind, const std::string& name) { journalled.emplace_back(kind, name); });
  ContainerSpec spec;
  spec.service = "db";
  spec.image = "firedrill/postgres:15";
  spec.env = {"POSTGRES_PASSWORD=not-a-secret", "POSTGRES_USER=shop", "POSTGRES_DB=orders"};
  spec.ports = {5432};
  const ContainerInfo info = runtime.start(spec);
  ASSERT_EQ(journalled.size(), 1u);
  EXPECT_EQ(journalled[0], std::make_pair(std::string("process"), (runtime.service_directory("db") / "pid").string()));
  EXPECT_EQ(info.ip, "127.0.0.1");
  const int port = info.host_ports.at(5432);
  EXPECT_NE(port, 5432);
  EXPECT_EQ(runtime.peer_address("db", 5432).host, "127.0.0.1");
  EXPECT_EQ(runtime.peer_address("db", 5432).port, port);

  const auto query = [&](const std::string& sql) {
    return runtime.exec("db", {"psql", "-X", "-tA", "-U", "shop", "-d", "orders", "-c", sql}, std::chrono::seconds(10));
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (query("SELECT 1").exit_code != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The image's semantics: the user and database exist, data checksums are on, TCP on loopback.
  auto checksums = query("SHOW data_checksums");
  EXPECT_EQ(checksums.exit_code, 0) << checksums.output;
  EXPECT_EQ(checksums.output, "on\n");
  EXPECT_EQ(query("SHOW listen_addresses").output, "127.0.0.1\n");
  EXPECT_EQ(query("SHOW port").output, std::to_string(port) + "\n");
  EXPECT_TRUE(fs::exists(runtime.host_path("db", "/var/lib/postgresql/data/PG_VERSION")));
  const fs::path copied = out_ / "PG_VERSION";
  runtime.copy_from("db", "/var/lib/postgresql/data/PG_VERSION", copied);
  EXPECT_EQ(read_file(copied), "15\n");
  EXPECT_THROW(runtime.host_path("db", "/etc/passwd"), EnvironmentError);
  EXPECT_THROW(runtime.exec_in_network_namespace("db", {"true"}, std::chrono::seconds(1)), EnvironmentError);

  // Paused: the server answers nothing until it is continued.
  runtime.pause("db");
  auto frozen = runtime.exec("db", {"psql", "-X", "-tA", "-U", "shop", "-d", "orders", "-c", "SELECT 1"},
                             std::chrono::milliseconds(700));
  EXPECT_EQ(frozen.exit_code, -1) << frozen.output;
  EXPECT_TRUE(runtime.is_running("db"));
  runtime.unpause("db");
  EXPECT_EQ(query("SELECT 2").output, "2\n");

  // SIGKILL takes the whole group down; start_again brings it back on the same port and data.
  EXPECT_EQ(query("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)").exit_code, 0);
  runtime.kill("db", "KILL");
  const auto died = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (runtime.is_running("db") && std::chrono::steady_clock::now() < died)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
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

}  // namespace
}  // namespace firedrill
