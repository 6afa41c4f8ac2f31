// The Postgres failover drills end to end: the real command line, engine, images, Postgres
// streaming replication and app. The async drill's lost writes are counted a second time here,
// independently of the engine: the test reads the promoted database itself and compares it with
// acks.jsonl.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using testing::CommandOutcome;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;
constexpr const char* database_password = "failover-test-password";

using testing::read_file;

class FailoverTest : public testing::EngineTest {
 protected:

  void TearDown() override {
    if (!kept_run_.empty()) firedrill({"down", kept_run_});
    if (!run_id_.empty()) {
      auto left = testing::run_command(
          {"docker", "ps", "-aq", "--filter", "label=io.firedrill.run=" + run_id_}, std::chrono::seconds(30));
      EXPECT_EQ(left.output, "") << "containers of run " << run_id_ << " were left behind";
    }
    if (!out_.empty()) fs::remove_all(out_);
  }

  /// A copy of a library scenario with one piece of text replaced.
  fs::path variant(const std::string& name, const std::string& from, const std::string& to) {
    std::string text = read_file(source_dir / "scenarios" / name);
    auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    auto path = out_ / name;
    std::ofstream(path) << text;
    return path;
  }

  static const nlohmann::json& step_named(const nlohmann::json& report, const std::string& name) {
    for (const auto& step : report.at("steps"))
      if (step.value("name", "") == name) return step;
    throw std::runtime_error("no step '" + name + "' in the report");
  }

  std::string kept_run_;
};

TEST_F(FailoverTest, SyncStandbyPromotedAndRepointedLosesNoAcknowledgedWrite) {
  auto [outcome, report] = drill(source_dir / "scenarios" / "pg-primary-kill-promote.yaml");
  ASSERT_FALSE(report.is_null()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  const auto& measured = report["measured"];
  EXPECT_GT(measured["acked_writes"].get<long>(), 300);
  EXPECT_EQ(measured["lost_acked_writes"], 0);
  EXPECT_EQ(measured["rpo_seconds"], 0.0);
  EXPECT_GT(measured["rto_seconds"].get<double>(), 0.0);
  EXPECT_EQ(step_named(report, "promote the standby")["outcome"], "ok");
  const auto& repoint = step_named(report, "point db at the new primary");
  EXPECT_EQ(repoint["outcome"], "ok");
  bool app_rewritten = false;
  for (const auto& client : repoint["details"]["clients"])
    if (client["service"] == "app") app_rewritten = client["rewritten"].get<bool>();
  EXPECT_TRUE(app_rewritten) << repoint.dump(2);

  // The generated passwords (the database's and the replication role's: 36 hex digits) never
  // reach what the run wrote, standby logs included.
  const std::regex generated_secret("(^|[^0-9a-f])[0-9a-f]{36}([^0-9a-f]|$)");
  for (const auto& entry : fs::recursive_directory_iterator(run_dir_)) {
    if (entry.is_regular_file()) {
      EXPECT_FALSE(std::regex_search(read_file(entry.path()), generated_secret)) << entry.path();
    }
  }
  EXPECT_TRUE(fs::exists(run_dir_ / "logs" / "db-standby-1.log"));
}

// The app reaches `db` through a fault proxy (a latency fault `via: proxy`, on a runtime that could
// also rewrite hosts files): repoint moves that proxy to the promoted standby, or the app would
// keep writing to the dead primary through it and never recover.
TEST_F(FailoverTest, RepointMovesTheFaultProxyTheAppReachesTheDatabaseThrough) {
  auto scenario = variant("pg-primary-kill-promote.yaml", "  - { name: warm up, wait: 3s }",
                          "  - { name: slow link, fault: latency, target: app, towards: db, delay: 2ms, via: proxy }\n"
                          "  - { name: warm up, wait: 3s }");
  auto [outcome, report] = drill(scenario);
  ASSERT_FALSE(report.is_null()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
  EXPECT_EQ(report["measured"]["lost_acked_writes"], 0);
  const auto& repoint = step_named(report, "point db at the new primary");
  EXPECT_EQ(repoint["outcome"], "ok");
  std::map<std::string, std::string> via;
  for (const auto& client : repoint["details"]["clients"])
    if (client["rewritten"].get<bool>()) via[client["service"].get<std::string>()] = client["via"].get<std::string>();
  EXPECT_EQ(via["app"], "proxy") << repoint.dump(2);
  EXPECT_EQ(via["cache"], "exec") << "a client with no proxy has its hosts file rewritten: " << repoint.dump(2);
}

TEST_F(FailoverTest, AsyncFailoverLosesExactlyTheAcknowledgedWritesMissingFromThePromotedDatabase) {
  auto scenario = variant("pg-async-failover-rpo.yaml", "db: { kind: postgres, standbys: 1 }",
                          std::string("db: { kind: postgres, standbys: 1, env: { POSTGRES_PASSWORD: ") +
                              database_password + " } }");
  auto [outcome, report] = drill(scenario, {"--keep"});
  ASSERT_FALSE(report.is_null()) << outcome.output;
  kept_run_ = run_id_;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);

  const int port = testing::published_port(report, "db-standby-1");
  ASSERT_NE(port, 0) << report["environment"].dump(2);
  const std::set<std::string> present = testing::order_ids_on_primary(port, database_password, "the promoted standby");

  long acked = 0, missing = 0, missing_before_incident = 0;
  const Micros incident = parse_rfc3339(report["incident_at"].get<std::string>());
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
  EXPECT_GT(missing, 0) << "the lagging standby held every acknowledged write: no RPO was produced";
  EXPECT_EQ(measured["lost_acked_writes"].get<long>(), missing);
  // SIGKILL is requested at T0 and lands a moment later: the primary may still acknowledge a few
  // writes in between, which the report counts apart.
  EXPECT_EQ(measured["lost_acked_after_incident"].get<long>(), missing - missing_before_incident);
  EXPECT_GT(missing_before_incident, 0);
  // The standby stopped receiving about 4 s before the primary died.
  EXPECT_GT(measured["rpo_seconds"].get<double>(), 2.0);
  EXPECT_LT(measured["rpo_seconds"].get<double>(), 8.0);
}

}  // namespace
}  // namespace firedrill
