// The Redis Sentinel failover drill end to end: the real command line, engine, images, three
// redis-sentinel processes, a replica and the app. The drill is kept up after it ends so that the
// test can ask a sentinel itself who the master is and count the surviving keys on that master;
// the lost acknowledged writes it counts from acks.jsonl must equal the report's.
#include <hiredis/hiredis.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <regex>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "harness/runtime/docker/host_firewall.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using testing::CommandOutcome;
using testing::published_port;
using testing::read_file;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;

struct ContextFree {
  void operator()(redisContext* context) const { redisFree(context); }
};
struct ReplyFree {
  void operator()(redisReply* reply) const { freeReplyObject(reply); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// The group's password, as the scenario sets it: a space, a quote, a backslash, `@` and `/` must
// survive the server's configuration, the sentinels' and the app's redis-sentinel:// URL.
const std::string group_password = R"(sentinel "pw" \ @/x)";
const std::string group_password_yaml = R"(sentinel \"pw\" \\ @/x)";

/// The sentinel drill of the library with the group's password set.
std::string scenario_with_password() {
  std::string text = read_file(source_dir / "scenarios" / "redis-master-loss-sentinel.yaml");
  const std::string cache = "  cache: { kind: redis, sentinels: 3, replicas: 1 }\n";
  const auto at = text.find(cache);
  EXPECT_NE(at, std::string::npos);
  if (at != std::string::npos)
    text.replace(at, cache.size(),
                 "  cache: { kind: redis, sentinels: 3, replicas: 1, env: { REDIS_PASSWORD: \"" + group_password_yaml + "\" } }\n");
  return text;
}

/// A connection to 127.0.0.1:port, authenticated when a password is given.
Context connect_local(int port, const std::string& password = {}) {
  Context context{redisConnectWithTimeout("127.0.0.1", port, timeval{5, 0})};
  if (!context || context->err != 0) throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  redisSetTimeout(context.get(), timeval{5, 0});
  if (!password.empty()) {
    Reply auth{static_cast<redisReply*>(redisCommand(context.get(), "AUTH %b", password.data(), password.size()))};
    if (!auth || auth->type == REDIS_REPLY_ERROR) throw std::runtime_error("AUTH refused at 127.0.0.1:" + std::to_string(port));
  }
  return context;
}

/// The error a command meets, or "" when it succeeds.
std::string error_of(redisContext* context, const char* command) {
  Reply reply{static_cast<redisReply*>(redisCommand(context, command))};
  if (!reply) return "no reply";
  return reply->type == REDIS_REPLY_ERROR ? std::string(reply->str, reply->len) : "";
}

class SentinelTest : public testing::EngineTest {
 protected:
  void TearDown() override {
    if (!kept_run_.empty()) firedrill({"down", kept_run_});
    if (!run_id_.empty()) {
      auto left = testing::run_command({"docker", "ps", "-aq", "--filter", "label=io.firedrill.run=" + run_id_},
                                       std::chrono::seconds(30));
      EXPECT_EQ(left.output, "") << "containers of run " << run_id_ << " were left behind";
      auto networks = testing::run_command(
          {"docker", "network", "ls", "-q", "--filter", "label=io.firedrill.run=" + run_id_}, std::chrono::seconds(30));
      EXPECT_EQ(networks.output, "") << "networks of run " << run_id_ << " were left behind";
      auto volumes = testing::run_command(
          {"docker", "volume", "ls", "-q", "--filter", "label=io.firedrill.run=" + run_id_}, std::chrono::seconds(30));
      EXPECT_EQ(volumes.output, "") << "volumes of run " << run_id_ << " were left behind";
      // `down` also deletes what the engine does not label: the run's egress rule.
      if (can_change_host_firewall()) {
        EXPECT_EQ(count_egress_rules(run_id_), 0) << "the egress rule of run " << run_id_;
      }
    }
    testing::EngineTest::TearDown();
  }

  /// Runs a scenario with --keep; the report (null when none was written).
  nlohmann::json drill(const fs::path& scenario) {
    auto outcome = firedrill({"run", scenario.string(), "--out", out_.string(), "--keep"});
    nlohmann::json report;
    for (const auto& entry : fs::directory_iterator(out_))
      if (fs::exists(entry.path() / "report.json")) {
        run_dir_ = entry.path();
        report = nlohmann::json::parse(read_file(entry.path() / "report.json"));
        run_id_ = report.value("run_id", "");
      }
    kept_run_ = run_id_;
    EXPECT_FALSE(report.is_null()) << outcome.output;
    EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
    return report;
  }

  /// Checks with the kept environment that Sentinel promoted the replica, then counts the `sets`
  /// writer's acknowledged writes missing from the new master and compares with the report.
  /// Returns the number lost.
  long check_failover_and_count_lost(const nlohmann::json& report) {
    EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);
    // A sentinel names the replica as the master now, and the replica says it is one.
    {
      Context sentinel = connect_local(published_port(report, "cache-sentinel-2"));
      Reply master{static_cast<redisReply*>(redisCommand(sentinel.get(), "SENTINEL get-master-addr-by-name cache"))};
      EXPECT_TRUE(master && master->type == REDIS_REPLY_ARRAY && master->elements == 2);
      if (master && master->type == REDIS_REPLY_ARRAY && master->elements == 2) {
        EXPECT_EQ(std::string(master->element[0]->str, master->element[0]->len), "cache-replica-1");
      }
    }
    // What any local user can do without the password: ask where the master is, nothing more.
    {
      Context anonymous_sentinel = connect_local(published_port(report, "cache-sentinel-1"));
      EXPECT_TRUE(error_of(anonymous_sentinel.get(), "SENTINEL failover cache").starts_with("NOPERM"));
      EXPECT_TRUE(error_of(anonymous_sentinel.get(), "SENTINEL masters").starts_with("NOPERM"));
      EXPECT_TRUE(error_of(anonymous_sentinel.get(), "SENTINEL SET cache down-after-milliseconds 1").starts_with("NOPERM"));
      Context anonymous_master = connect_local(published_port(report, "cache-replica-1"));
      EXPECT_TRUE(error_of(anonymous_master.get(), "GET x").starts_with("NOAUTH"));
      EXPECT_TRUE(error_of(anonymous_master.get(), "CONFIG GET dir").starts_with("NOAUTH"));
      EXPECT_TRUE(error_of(anonymous_master.get(), "AUTH guess").starts_with("WRONGPASS"));
      // The group's own password works at the sentinels too, as the user the sentinels share.
      Context administrator = connect_local(published_port(report, "cache-sentinel-1"));
      Reply auth{static_cast<redisReply*>(
          redisCommand(administrator.get(), "AUTH firedrill %b", group_password.data(), group_password.size()))};
      EXPECT_TRUE(auth && auth->type == REDIS_REPLY_STATUS);
      EXPECT_EQ(error_of(administrator.get(), "SENTINEL masters"), "");
    }
    Context promoted = connect_local(published_port(report, "cache-replica-1"), group_password);
    {
      Reply role{static_cast<redisReply*>(redisCommand(promoted.get(), "ROLE"))};
      EXPECT_TRUE(role && role->type == REDIS_REPLY_ARRAY && role->elements > 0);
      if (role && role->type == REDIS_REPLY_ARRAY && role->elements > 0) {
        EXPECT_EQ(std::string(role->element[0]->str, role->element[0]->len), "master");
      }
    }
    // The sentinels' own record of it, kept in the run's logs.
    EXPECT_NE(read_file(run_dir_ / "logs" / "cache-sentinel-1.log").find("+switch-master cache cache 6379 cache-replica-1 6379"),
              std::string::npos);

    // The keys of the `sets` writer that survived on the new master.
    std::set<std::string> present;
    const std::string prefix = run_id_ + "-sets-";
    std::string cursor = "0";
    do {
      Reply page{static_cast<redisReply*>(
          redisCommand(promoted.get(), "SCAN %s MATCH %s* COUNT 1000", cursor.c_str(), prefix.c_str()))};
      if (!page || page->type != REDIS_REPLY_ARRAY || page->elements != 2) {
        ADD_FAILURE() << "SCAN failed on the new master";
        return -1;
      }
      cursor.assign(page->element[0]->str, page->element[0]->len);
      for (std::size_t i = 0; i < page->element[1]->elements; ++i)
        present.emplace(page->element[1]->element[i]->str, page->element[1]->element[i]->len);
    } while (cursor != "0");

    long acked = 0, lost = 0;
    for (const Ack& ack : read_acks(run_dir_ / "acks.jsonl")) {
      if (ack.writer != "sets" || ack.outcome != WriteOutcome::ok) continue;
      ++acked;
      if (!present.count(ack.id)) ++lost;
    }
    EXPECT_GT(acked, 500) << "the writer wrote too little to measure anything";

    std::smatch counted;
    std::string detail;
    for (const auto& check : report["checks"])
      if (check["name"] == "lost_acked_writes(cache)") detail = check["detail"];
    EXPECT_TRUE(std::regex_search(detail, counted, std::regex(R"(^(\d+) of (\d+) acknowledged writes lost)"))) << detail;
    if (counted.size() == 3) {
      EXPECT_EQ(std::stol(counted[1].str()), lost) << detail;
      EXPECT_EQ(std::stol(counted[2].str()), acked) << detail;
    }
    // Orders go to Postgres, which the drill leaves alone: every lost write of the run is a SET.
    EXPECT_EQ(report["measured"]["lost_acked_writes"].get<long>(), lost);

    // The cache was down for real (a failover cannot begin before Sentinel's down-after time)
    // and came back within its target.
    const auto& cache = report["components"]["cache"];
    EXPECT_TRUE(cache["rto"]["measured_seconds"].is_number()) << cache.dump(2);
    if (cache["rto"]["measured_seconds"].is_number()) {
      const double rto = cache["rto"]["measured_seconds"].get<double>();
      EXPECT_GT(rto, 1.0);
      EXPECT_LT(rto, 15.0);
      std::cout << "cache RTO " << rto << " s; " << lost << " of " << acked << " acknowledged SETs lost\n";
    }
    EXPECT_TRUE(cache["rto"]["met"].get<bool>());
    return lost;
  }

  std::string kept_run_;
};

TEST_F(SentinelTest, SentinelPromotesTheReplicaAndTheReportCountsTheLostSetsExactly) {
  const fs::path scenario = out_ / "redis-master-loss-sentinel.yaml";
  std::ofstream(scenario) << scenario_with_password();
  auto report = drill(scenario);
  ASSERT_FALSE(report.is_null());
  check_failover_and_count_lost(report);
}

// The same failover with the replica cut off from its master for the last 2 s before the master
// dies: the SETs acknowledged meanwhile never reach the replica, so the count compared is not 0.
TEST_F(SentinelTest, SetsTheReplicaNeverReceivedAreCountedLostExactly) {
  std::string text = scenario_with_password();
  const std::string warm_up = "  - { name: warm up, wait: 3s }\n";
  ASSERT_NE(text.find(warm_up), std::string::npos);
  text.replace(text.find(warm_up), warm_up.size(),
               warm_up +
                   "  - { name: replica cut off, fault: partition, between: [cache-replica-1, cache], duration: 4s }\n"
                   "  - { name: writes the replica never sees, wait: 2s }\n");
  const std::string bound = "{ lost_acked_writes: cache, max: 50 }";
  ASSERT_NE(text.find(bound), std::string::npos);
  text.replace(text.find(bound), bound.size(), "{ lost_acked_writes: cache, max: 100000 }");
  const fs::path scenario = out_ / "redis-master-loss-sentinel-cut-off.yaml";
  std::ofstream(scenario) << text;

  auto report = drill(scenario);
  ASSERT_FALSE(report.is_null());
  const long lost = check_failover_and_count_lost(report);
  // About 2 s of a 200/s writer.
  EXPECT_GT(lost, 100);
}

}  // namespace
}  // namespace firedrill
