#include "clients/probes/prober.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <libpq-fe.h>

#include "checks/measure/analysis.hpp"
#include "clients/testing/local_servers.hpp"
#include "clients/testing/read_back.hpp"
#include "clients/workload/implied_contracts.hpp"
#include "clients/workload/workload.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using testing::LocalPostgres;
using testing::LocalRedis;
using testing::TempDir;
using testing::eventually;
using testing::UnansweringPort;

struct ProbeChange {
  Micros t;
  bool ok;
  std::string error;
};

std::vector<ProbeChange> changes_of(const std::vector<Event>& events, const std::string& probe) {
  std::vector<ProbeChange> changes;
  for (const Event& event : events) {
    if (event.kind == event_kind::probe && event.details["probe"] == probe) {
      changes.push_back({event.t, event.details["ok"].get<bool>(), event.details.value("error", "")});
      EXPECT_TRUE(event.details.contains("latency_ms"));
    }
  }
  return changes;
}

ProbeConfig probe_config(const std::string& name, const std::string& type, const std::string& service, int port) {
  ProbeConfig probe;
  probe.name = name;
  probe.type = type;
  probe.service = service;
  probe.port = port;
  probe.interval = 10ms;
  probe.timeout = 500ms;
  return probe;
}

TEST(Prober, RedisAndTcpProbesFollowTheServerAndRecordOnlyChanges) {
  LocalRedis cache;
  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  Prober prober({probe_config("cache-ping", "redis", "cache", cache.port()),
                 probe_config("cache-tcp", "tcp", "cache", cache.port())},
                events, real_clock());
  prober.start();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"cache-ping", "cache-tcp"}); }));
  std::this_thread::sleep_for(200ms);  // about 20 samples each, all up

  cache.stop();
  const Micros killed_at = real_clock().now();
  ASSERT_TRUE(eventually([&] {
    const auto state = prober.state();
    return !state.at("cache-ping") && !state.at("cache-tcp");
  }));
  EXPECT_FALSE(prober.all_up({"cache-ping"}));
  std::this_thread::sleep_for(200ms);

  cache.start();
  const Micros answering_at = real_clock().now();  // start() returns once PING answers
  ASSERT_TRUE(eventually([&] { return prober.all_up({"cache-ping", "cache-tcp"}); }));
  std::this_thread::sleep_for(100ms);
  prober.stop();

  for (const char* name : {"cache-ping", "cache-tcp"}) {
    const std::vector<ProbeChange> changes = changes_of(events.snapshot(), name);
    ASSERT_EQ(changes.size(), 3u) << name;
    EXPECT_TRUE(changes[0].ok);
    EXPECT_FALSE(changes[1].ok);
    EXPECT_FALSE(changes[1].error.empty());
    EXPECT_GE(changes[1].t, killed_at - 25'000);  // stamped when the failed request was sent
    EXPECT_LE(changes[1].t, killed_at + 100'000) << name << " noticed late";
    EXPECT_TRUE(changes[2].ok);
    EXPECT_LE(changes[2].t, answering_at + 100'000) << name << " noticed late";
  }
  EXPECT_FALSE(prober.all_up({"cache-ping", "no-such-probe"}));
}

TEST(Prober, HttpProbeIsUpOnlyFor2xx) {
  httplib::Server server;
  std::atomic<int> status{200};
  server.Get("/health", [&](const httplib::Request&, httplib::Response& response) { response.status = status; });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });

  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  Prober prober({probe_config("app-health", "http", "app", port)}, events, real_clock());
  prober.start();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"app-health"}); }));
  status = 503;
  ASSERT_TRUE(eventually([&] { return !prober.all_up({"app-health"}); }));
  status = 204;
  ASSERT_TRUE(eventually([&] { return prober.all_up({"app-health"}); }));
  prober.stop();
  server.stop();
  serving.join();

  const std::vector<ProbeChange> changes = changes_of(events.snapshot(), "app-health");
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[1].error, "HTTP 503");
  EXPECT_EQ(events.snapshot().front().details["service"], "app");
}

TEST(Prober, AnAnswerFarLaterThanTheProbesRecentOnesIsRecordedAsAShortOutage) {
  httplib::Server server;
  std::atomic<int> answers{0};
  std::atomic<bool> stall{false};
  server.Get("/live", [&](const httplib::Request&, httplib::Response& response) {
    if (stall.exchange(false)) std::this_thread::sleep_for(300ms);  // a freeze shorter than the timeout
    ++answers;
    response.status = 200;
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });

  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  ProbeConfig config = probe_config("app-live", "http", "app", port);
  config.timeout = 2s;
  config.path = "/live";
  Prober prober({config}, events, real_clock());
  prober.start();
  ASSERT_TRUE(eventually([&] { return answers >= 40; }));  // enough answers to know what is usual
  stall = true;
  const Micros stalled_from = real_clock().now();
  ASSERT_TRUE(eventually([&] { return !stall && answers >= 60; }));
  prober.stop();
  server.stop();
  serving.join();

  // The stalled answer is one late event (others may come from a busy machine, but none as late).
  std::vector<Event> late;
  for (const Event& event : events.snapshot())
    if (event.kind == event_kind::probe && event.details.value("late", false) &&
        event.details["latency_ms"].get<double>() >= 300.0)
      late.push_back(event);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_FALSE(late[0].details["ok"].get<bool>());
  // Stamped when the late sample was sent: at most one interval before the stall began (the
  // sample in flight then), not when the lateness became known.
  EXPECT_GE(late[0].t, stalled_from - 10'000 - 5'000);
  EXPECT_LT(late[0].t, stalled_from + 100'000);
  // Followed by the probe's up event when the answer came, 300 ms or more later.
  const std::vector<ProbeChange> changes = changes_of(events.snapshot(), "app-live");
  const auto at = std::find_if(changes.begin(), changes.end(), [&](const ProbeChange& c) { return c.t == late[0].t && !c.ok; });
  ASSERT_NE(at, changes.end());
  ASSERT_NE(at + 1, changes.end());
  EXPECT_TRUE((at + 1)->ok);
  EXPECT_GE((at + 1)->t - at->t, 300'000);
}

TEST(Prober, PostgresOutageIsSeenByProbeAndWritesAndMeasured) {
  LocalPostgres db;
  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  AckLog acks(dir.path() / "acks.jsonl");
  ProbeConfig sql_probe = probe_config("db-sql", "sql", "db", db.port());
  sql_probe.conninfo = db.conninfo();
  Prober prober({sql_probe}, events, real_clock());
  WriterConfig writer;
  writer.name = "orders";
  writer.request = firedrill_writes_insert("orders");
  writer.conninfo = db.conninfo();
  writer.rate_per_second = 100;
  writer.timeout = 1000ms;
  writer.id_prefix = "run";
  writer.max_duration = 60s;
  Workload workload({writer}, acks, events, real_clock());

  prober.start();
  workload.start();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"db-sql"}) && workload.acked() >= 20; }));

  events.record(event_kind::incident, {{"step", "stop postgres"}});
  db.stop();
  ASSERT_TRUE(eventually([&] { return !prober.all_up({"db-sql"}); }));
  std::this_thread::sleep_for(300ms);
  const Micros restart_from = real_clock().now();
  db.start();
  const Micros restarted_at = real_clock().now();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"db-sql"}); }));
  std::this_thread::sleep_for(700ms);  // longer than the stable interval below
  workload.stop();
  prober.stop();

  const std::vector<Event> history = events.snapshot();
  const std::vector<ProbeChange> changes = changes_of(history, "db-sql");
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_FALSE(changes[1].ok);
  EXPECT_TRUE(changes[2].ok);
  EXPECT_GE(changes[2].t, restart_from);

  const std::vector<Ack> writes = acks.snapshot();
  ComponentScope scope{"db", probes_of_service(history, "db"), {"orders"}, 500ms};
  const RecoveryMeasure m = measure_recovery(history, writes, scope, std::nullopt);
  ASSERT_TRUE(m.recovered) << m.reason;
  ASSERT_TRUE(m.incident_at);
  EXPECT_LE(*m.detect_seconds, 0.2);
  EXPECT_GE(*m.recovered_at, restart_from);
  EXPECT_LE(*m.recovered_at, restarted_at + 200'000) << m.reason;
  EXPECT_GT(*m.downtime_seconds, 0.3);
  EXPECT_LE(*m.downtime_seconds, *m.rto_seconds);

  const DataLossMeasure loss = measure_data_loss(writes, testing::read_back({writer}, firedrill_writes_select("orders"), writes), m.incident_at, {});
  EXPECT_EQ(loss.lost_acked, 0);
  EXPECT_EQ(loss.rpo_seconds, 0.0);
  EXPECT_GT(loss.failed, 0);
}

TEST(Prober, UnknownTypeIsRefused) {
  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  EXPECT_THROW(Prober({probe_config("x", "icmp", "db", 1)}, events, real_clock()), std::invalid_argument);
}

}  // namespace
}  // namespace firedrill

namespace firedrill {
namespace {

/// Connects to the server and runs SELECT 1, blocking; the time it answered.
Micros answered_by_a_fresh_connection(const std::string& conninfo) {
  PGconn* connection = PQconnectdb(conninfo.c_str());
  PGresult* result = PQstatus(connection) == CONNECTION_OK ? PQexec(connection, "SELECT 1") : nullptr;
  const Micros answered = real_clock().now();
  const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
  PQclear(result);
  PQfinish(connection);
  if (!ok) throw std::runtime_error("the witness connection failed");
  return answered;
}

// A frozen server answers nothing and closes nothing: only the client-side deadlines notice.
//
// When it thaws it works through its accept queue in order: every connection that clients (the
// writers reconnecting, the probe's attempts) queued while it was frozen costs it a fork and a
// backend start before later ones are answered. That is the database's own time (200-250 ms
// measured with both cores of a 2-core machine busy), not something the probe may add to. So the probe is held to
// a witness: a connection the test opens at the thaw, queued behind all of those. The probe's
// oldest attempt holds an earlier place in the queue than the witness, so the probe must see the
// server up no later than the witness does (plus a scheduling margin), and from the thaw on, never
// before it.
TEST(Prober, PausedPostgresTimesOutAndRecoveryIsMeasuredFromTheResume) {
  LocalPostgres db;
  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  AckLog acks(dir.path() / "acks.jsonl");
  ProbeConfig sql_probe = probe_config("db-sql", "sql", "db", db.port());
  sql_probe.conninfo = db.conninfo();
  sql_probe.timeout = 200ms;
  Prober prober({sql_probe}, events, real_clock());
  WriterConfig writer;
  writer.name = "orders";
  writer.request = firedrill_writes_insert("orders");
  writer.conninfo = db.conninfo();
  writer.rate_per_second = 200;
  writer.concurrency = 2;
  writer.timeout = 300ms;
  writer.max_duration = 60s;
  Workload workload({writer}, acks, events, real_clock());
  prober.start();
  workload.start();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"db-sql"}) && workload.acked() >= 20; }));

  events.record(event_kind::incident, {{"step", "pause postgres"}});
  db.pause();
  const Micros paused_at = real_clock().now();
  std::this_thread::sleep_for(1000ms);
  const Micros resumed_at = real_clock().now();
  db.resume();
  const Micros witnessed_at = answered_by_a_fresh_connection(db.conninfo());
  std::this_thread::sleep_for(800ms);
  workload.stop();
  prober.stop();

  const std::vector<Event> history = events.snapshot();
  const std::vector<ProbeChange> changes = changes_of(history, "db-sql");
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_NE(changes[1].error.find("no answer within 200 ms"), std::string::npos) << changes[1].error;
  // Down is stamped when the unanswered request was sent: within one interval of the pause.
  EXPECT_GE(changes[1].t, paused_at - 25'000);
  EXPECT_LE(changes[1].t, paused_at + 25'000);
  EXPECT_GE(changes[2].t, resumed_at);
  // The margin is far below the 200 ms an attempt sent to the back of the queue at a deadline
  // would cost.
  constexpr Micros scheduling_margin = 50'000;
  EXPECT_LE(changes[2].t, witnessed_at + scheduling_margin) << "witness answered " << witnessed_at - resumed_at << " µs after the thaw";

  const std::vector<Ack> writes = acks.snapshot();
  std::int64_t timeouts = 0;
  for (const Ack& ack : writes) timeouts += ack.outcome == WriteOutcome::timeout;
  EXPECT_GE(timeouts, 2);

  const RecoveryMeasure m =
      measure_recovery(history, writes, ComponentScope{"db", {"db-sql"}, {"orders"}, 500ms}, std::nullopt);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_GE(*m.recovered_at, resumed_at);
  // The writers' reconnections were queued before the witness too; their next write follows
  // within one writer period (2 writers at 200/s: 10 ms each).
  EXPECT_LE(*m.recovered_at, witnessed_at + scheduling_margin) << m.reason;
  ::testing::Test::RecordProperty("recovered_after_resume_us", std::to_string(*m.recovered_at - resumed_at));
  ::testing::Test::RecordProperty("witness_after_resume_us", std::to_string(witnessed_at - resumed_at));
  const DataLossMeasure loss = measure_data_loss(writes, testing::read_back({writer}, firedrill_writes_select("orders"), writes), m.incident_at, {});
  EXPECT_EQ(loss.lost_acked, 0);
}

}  // namespace
}  // namespace firedrill

namespace firedrill {
namespace {

TEST(Prober, SqlProbeToAnAddressThatDoesNotAnswerGivesUpAtItsTimeout) {
  UnansweringPort silent;
  ProbeConfig probe = probe_config("db-sql", "sql", "db", silent.port());
  probe.conninfo = fmt::format("host=127.0.0.1 port={} user=firedrill dbname=postgres", silent.port());
  probe.timeout = 300ms;
  for (int sample = 0; sample < 3; ++sample) {
    const auto began = std::chrono::steady_clock::now();
    const ProbeAnswer answer = probe_once(probe);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
    EXPECT_FALSE(answer.ok);
    EXPECT_NE(answer.error.find("no answer within 300 ms"), std::string::npos) << answer.error;
    EXPECT_GE(took, 290ms);
    EXPECT_LE(took, 400ms);
    ::testing::Test::RecordProperty("sample_ms_" + std::to_string(sample), std::to_string(took.count()));
  }

  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  Prober prober({probe}, events, real_clock());
  const Micros started_at = real_clock().now();
  prober.start();
  ASSERT_TRUE(eventually([&] { return prober.state().count("db-sql") == 1; }, 400ms));
  EXPECT_LE(real_clock().now() - started_at, 400'000);
  EXPECT_FALSE(prober.all_up({"db-sql"}));
  const auto stopping = std::chrono::steady_clock::now();
  prober.stop();
  EXPECT_LE(std::chrono::steady_clock::now() - stopping, 400ms) << "a sample outlived its timeout";
  const std::vector<ProbeChange> changes = changes_of(events.snapshot(), "db-sql");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].ok);
  EXPECT_GE(changes[0].t, started_at);
  EXPECT_LE(changes[0].t, started_at + 25'000);  // stamped when the unanswered request was sent
}

TEST(Prober, SqlProbeSeesARestartedPostgresAtOnce) {
  LocalPostgres db;
  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  ProbeConfig probe = probe_config("db-sql", "sql", "db", db.port());
  probe.conninfo = db.conninfo();
  probe.timeout = 300ms;
  Prober prober({probe}, events, real_clock());
  prober.start();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"db-sql"}); }));
  for (int restart = 0; restart < 2; ++restart) {
    db.stop();
    ASSERT_TRUE(eventually([&] { return !prober.all_up({"db-sql"}); }));
    std::this_thread::sleep_for(200ms);
    const Micros restart_from = real_clock().now();
    db.start();
    const Micros answering_at = real_clock().now();  // start() returns once connections are accepted
    ASSERT_TRUE(eventually([&] { return prober.all_up({"db-sql"}); }));
    const std::vector<ProbeChange> changes = changes_of(events.snapshot(), "db-sql");
    ASSERT_EQ(changes.size(), 3u + 2u * static_cast<std::size_t>(restart));
    EXPECT_TRUE(changes.back().ok);
    EXPECT_GE(changes.back().t, restart_from);
    EXPECT_LE(changes.back().t, answering_at + 100'000) << "restart " << restart << " noticed late";
    ::testing::Test::RecordProperty("up_after_restart_us_" + std::to_string(restart),
                                    std::to_string(changes.back().t - answering_at));
  }
  prober.stop();
}

int loopback_socket_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A userland port forwarder like Docker's docker-proxy: it accepts every connection at once and
// only then connects to the server. Told to stall, it holds the next connection it accepts without
// forwarding anything, as docker-proxy does while its SYN to a restarted container is retransmitted.
class StallingProxy {
 public:
  explicit StallingProxy(int target_port) : target_port_(target_port), listener_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    port_ = ntohs(address.sin_port);
    accepting_ = std::thread([this] { accept_loop(); });
  }
  ~StallingProxy() {
    stopping_ = true;
    accepting_.join();
    for (std::thread& pump : pumps_) pump.join();
    for (const int fd : held_) ::close(fd);
    ::close(listener_);
  }
  StallingProxy(const StallingProxy&) = delete;
  StallingProxy& operator=(const StallingProxy&) = delete;
  int port() const { return port_; }
  void stall_next_connection() { stall_next_ = true; }
  bool stalled_one() const { return stalled_; }

 private:
  void accept_loop() {
    while (!stopping_) {
      pollfd wait{listener_, POLLIN, 0};
      if (::poll(&wait, 1, 20) <= 0) continue;
      const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      if (stall_next_.exchange(false)) {
        held_.push_back(client);
        stalled_ = true;
        continue;
      }
      const int server = loopback_socket_to(target_port_);
      if (server < 0) {
        ::close(client);
        continue;
      }
      pumps_.emplace_back([this, client, server] { pump(client, server); });
    }
  }
  void pump(int client, int server) {
    pollfd ends[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    char buffer[16384];
    bool open = true;
    while (open && !stopping_) {
      if (::poll(ends, 2, 20) <= 0) continue;
      for (int side = 0; side < 2 && open; ++side) {
        if (ends[side].revents == 0) continue;
        const ssize_t got = ::read(ends[side].fd, buffer, sizeof buffer);
        open = got > 0 && ::send(ends[1 - side].fd, buffer, static_cast<std::size_t>(got), MSG_NOSIGNAL) == got;
      }
    }
    ::close(client);
    ::close(server);
  }
  int target_port_;
  int listener_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stall_next_{false};
  std::atomic<bool> stalled_{false};
  std::vector<int> held_;
  std::vector<std::thread> pumps_;
  std::thread accepting_;
};

// The first connection after the restart stalls behind the proxy; a fresh attempt beside it is
// answered, so the probe does not wait for the stalled one (nor for its 2 s timeout).
TEST(Prober, SqlProbeThroughAStallingProxyDoesNotWaitForTheStalledConnection) {
  LocalPostgres db;
  StallingProxy proxy(db.port());
  TempDir dir;
  EventLog events(dir.path() / "events.jsonl", real_clock());
  ProbeConfig probe = probe_config("db-sql", "sql", "db", proxy.port());
  probe.conninfo = fmt::format("host=127.0.0.1 port={} user=firedrill dbname=postgres sslmode=disable", proxy.port());
  probe.timeout = 2000ms;
  Prober prober({probe}, events, real_clock());
  prober.start();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"db-sql"}); }));
  db.stop();
  ASSERT_TRUE(eventually([&] { return !prober.all_up({"db-sql"}); }));
  std::this_thread::sleep_for(200ms);
  const Micros restart_from = real_clock().now();
  proxy.stall_next_connection();
  db.start();
  const Micros answering_at = real_clock().now();
  ASSERT_TRUE(eventually([&] { return prober.all_up({"db-sql"}); }));
  prober.stop();
  EXPECT_TRUE(proxy.stalled_one());
  const std::vector<ProbeChange> changes = changes_of(events.snapshot(), "db-sql");
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_TRUE(changes[2].ok);
  EXPECT_GE(changes[2].t, restart_from);
  // One patience (100 ms) for the stalled attempt, then a round trip through the proxy: on a
  // quiet machine within 200 ms. The bound is what separates that from waiting for the stalled
  // attempt, whose timeout is 2 s; a machine running drills beside this test adds hundreds of ms.
  EXPECT_LT(changes[2].t, answering_at + 1'500'000) << "waited for the stalled connection";
  ::testing::Test::RecordProperty("up_after_restart_us", std::to_string(changes[2].t - answering_at));
}

}  // namespace
}  // namespace firedrill
