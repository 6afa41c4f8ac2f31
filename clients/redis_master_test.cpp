// The harness's Sentinel client against a real redis-server and a real redis-sentinel on loopback:
// locating the master, writing through the group and reading the writes back.
#include "clients/redis_master.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

#include "clients/testing/local_servers.hpp"
#include "clients/testing/read_back.hpp"
#include "clients/workload/implied_contracts.hpp"
#include "clients/workload/workload.hpp"

namespace firedrill {
namespace {

using testing::eventually;

/// A redis-sentinel process on loopback monitoring 127.0.0.1:<master_port> as `name` (quorum 1).
class LocalSentinel {
 public:
  LocalSentinel(int master_port, const std::string& name) : port_(testing::free_port()) {
    const auto config = dir_.path() / "sentinel.conf";
    std::ofstream(config) << "port " << port_ << "\nbind 127.0.0.1\ndir " << dir_.path().string() << "\nsentinel monitor "
                          << name << " 127.0.0.1 " << master_port << " 1\n";
    const std::string log = (dir_.path() / "sentinel.log").string();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::execlp("redis-sentinel", "redis-sentinel", config.c_str(), "--logfile", log.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~LocalSentinel() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  LocalSentinel(const LocalSentinel&) = delete;
  LocalSentinel& operator=(const LocalSentinel&) = delete;
  int port() const { return port_; }

 private:
  testing::TempDir dir_;
  int port_;
  pid_t pid_ = -1;
};

/// The writer `sets` of run `run`: SET on 127.0.0.1:port at 400/s, `max_writes` of them.
WriterConfig redis_writer(int port, std::int64_t max_writes) {
  WriterConfig writer;
  writer.name = "sets";
  writer.request = redis_set_write();
  writer.port = port;
  writer.rate_per_second = 400;
  writer.id_prefix = "run";
  writer.max_writes = max_writes;
  return writer;
}

class SentinelClient : public ::testing::Test {
 protected:
  SentinelClient() : sentinel_(redis_.port(), "cache") {
    group_.master_name = "cache";
    group_.sentinel_ports = {testing::free_port(), sentinel_.port()};  // the first answers nothing
    group_.published_ports = {{"127.0.0.1", redis_.port()}};
    std::string error;
    EXPECT_TRUE(eventually([&] { return locate_master(group_, std::chrono::milliseconds(200), error).has_value(); }))
        << error;
  }

  testing::LocalRedis redis_;
  LocalSentinel sentinel_;
  SentinelGroup group_;
};

TEST_F(SentinelClient, LocatesTheMasterThroughTheFirstSentinelThatAnswers) {
  std::string error;
  auto master = locate_master(group_, std::chrono::milliseconds(500), error);
  ASSERT_TRUE(master) << error;
  EXPECT_EQ(master->name, "127.0.0.1");
  EXPECT_EQ(master->port, redis_.port());
}

TEST_F(SentinelClient, RefusesAMasterOutsideTheGroupAndAnUnknownName) {
  SentinelGroup strangers = group_;
  strangers.published_ports = {{"cache-replica-1", redis_.port()}};
  std::string error;
  EXPECT_FALSE(locate_master(strangers, std::chrono::milliseconds(500), error));
  EXPECT_NE(error.find("names master '127.0.0.1', not a server of the group"), std::string::npos) << error;

  SentinelGroup unknown = group_;
  unknown.master_name = "elsewhere";
  EXPECT_FALSE(locate_master(unknown, std::chrono::milliseconds(500), error));
  EXPECT_NE(error.find("does not know master 'elsewhere'"), std::string::npos) << error;
}

TEST_F(SentinelClient, AWorkloadThroughTheGroupIsReadBackFromItsMaster) {
  testing::TempDir dir;
  AckLog log(dir.path() / "acks.jsonl");
  EventLog events(dir.path() / "events.jsonl", real_clock());
  WriterConfig writer = redis_writer(1, 100);  // port 1 is never used: the group decides
  writer.sentinel = group_;
  writer.concurrency = 2;
  WriterConfig other = writer;
  other.name = "sets-b";  // its ids share the prefix "run-sets-" but are not the writer's
  other.max_writes = 20;
  Workload workload({writer, other}, log, events, real_clock());
  workload.start();
  ASSERT_TRUE(eventually([&] { return workload.acked() >= 120; }));
  workload.stop();
  EXPECT_EQ(workload.failed(), 0);

  const std::vector<Ack> acks = log.snapshot();
  Readback readback = testing::read_back({writer}, redis_scan_read_back(), acks);
  ASSERT_EQ(readback.writers.count("sets"), 1u);
  const auto& present = readback.writers.at("sets").present;
  EXPECT_EQ(present.size(), 100u);
  EXPECT_TRUE(present.contains("run-sets-1"));
  EXPECT_TRUE(present.contains("run-sets-100"));
  EXPECT_FALSE(present.contains("run-sets-b-1"));

  // Without the group, the same read-back goes to host:port directly.
  other.port = redis_.port();
  other.sentinel.reset();
  Readback direct = testing::read_back({other}, redis_scan_read_back(), acks);
  EXPECT_EQ(direct.writers.at("sets-b").present.size(), 20u);
}

TEST_F(SentinelClient, ALinkFollowsTheGroupAndReconnectsAfterADrop) {
  RedisMasterLink link("127.0.0.1", 1, group_, std::chrono::milliseconds(500));
  std::string error;
  redisContext* context = link.connection(error);
  ASSERT_NE(context, nullptr) << error;
  EXPECT_EQ(link.server(), "127.0.0.1");
  link.drop();
  ASSERT_NE(link.connection(error), nullptr) << error;

  RedisMasterLink nowhere("127.0.0.1", testing::free_port(), std::nullopt, std::chrono::milliseconds(200));
  EXPECT_EQ(nowhere.connection(error), nullptr);
  EXPECT_NE(error.find("connect to 127.0.0.1:"), std::string::npos) << error;
}

// A server that asks for a password: the link authenticates with the right one; without it a
// command meets NOAUTH, and a wrong one fails the connection with the server's reason, which
// never quotes the password.
TEST(RedisPassword, TheLinkAuthenticatesAndAWrongPasswordFailsWithoutShowingIt) {
  testing::LocalRedis redis("right \"pass\" word");
  std::string error;

  RedisMasterLink authenticated("127.0.0.1", redis.port(), std::nullopt, std::chrono::seconds(2), "right \"pass\" word");
  redisContext* context = authenticated.connection(error);
  ASSERT_NE(context, nullptr) << error;
  std::unique_ptr<redisReply, void (*)(redisReply*)> set{
      static_cast<redisReply*>(redisCommand(context, "SET %s %s", "k", "v")), [](redisReply* r) { freeReplyObject(r); }};
  ASSERT_TRUE(set);
  EXPECT_EQ(set->type, REDIS_REPLY_STATUS) << std::string(set->str, set->len);

  RedisMasterLink anonymous("127.0.0.1", redis.port(), std::nullopt, std::chrono::seconds(2));
  context = anonymous.connection(error);
  ASSERT_NE(context, nullptr) << error;
  std::unique_ptr<redisReply, void (*)(redisReply*)> refused{
      static_cast<redisReply*>(redisCommand(context, "GET %s", "k")), [](redisReply* r) { freeReplyObject(r); }};
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->type, REDIS_REPLY_ERROR);
  EXPECT_TRUE(std::string(refused->str, refused->len).starts_with("NOAUTH")) << refused->str;

  RedisMasterLink wrong("127.0.0.1", redis.port(), std::nullopt, std::chrono::seconds(2), "guess-Qw7");
  EXPECT_EQ(wrong.connection(error), nullptr);
  EXPECT_NE(error.find("WRONGPASS"), std::string::npos) << error;
  EXPECT_EQ(error.find("guess-Qw7"), std::string::npos) << error;

  // A writer and the read-back carry the password the same way.
  testing::TempDir dir;
  AckLog log(dir.path() / "acks.jsonl");
  EventLog events(dir.path() / "events.jsonl", real_clock());
  WriterConfig writer = redis_writer(redis.port(), 20);
  writer.password = "right \"pass\" word";
  Workload workload({writer}, log, events, real_clock());
  workload.start();
  ASSERT_TRUE(eventually([&] { return workload.acked() >= 20; }));
  workload.stop();
  EXPECT_EQ(workload.failed(), 0);
  const std::vector<Ack> acks = log.snapshot();
  EXPECT_EQ(testing::read_back({writer}, redis_scan_read_back(), acks).writers.at("sets").present.size(), 20u);
  writer.password.clear();
  EXPECT_THROW(testing::read_back({writer}, redis_scan_read_back(), acks), std::runtime_error);
}

}  // namespace
}  // namespace firedrill
