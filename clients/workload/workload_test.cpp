#include "clients/workload/workload.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <pqxx/pqxx>

#include "checks/measure/analysis.hpp"
#include "clients/testing/local_servers.hpp"
#include "clients/testing/read_back.hpp"
#include "clients/workload/implied_contracts.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using testing::LocalPostgres;
using testing::TempDir;
using testing::eventually;
using testing::read_back;

struct Recording {
  TempDir dir;
  EventLog events{dir.path() / "events.jsonl", real_clock()};
  AckLog acks{dir.path() / "acks.jsonl"};
};

WriterConfig sql_writer(const LocalPostgres& db, double rate, int concurrency) {
  WriterConfig writer;
  writer.name = "orders";
  writer.request = firedrill_writes_insert("orders");
  writer.conninfo = db.conninfo();
  writer.rate_per_second = rate;
  writer.concurrency = concurrency;
  writer.timeout = 1000ms;
  writer.id_prefix = "t1";
  writer.max_duration = 60s;
  return writer;
}

TEST(SqlWriter, EveryAckedWriteIsReadBackAndTheRateIsKept) {
  LocalPostgres db;
  Recording rec;
  Workload workload({sql_writer(db, 200, 2)}, rec.acks, rec.events, real_clock());
  workload.start();
  std::this_thread::sleep_for(1500ms);
  workload.stop();

  const std::vector<Ack> acks = rec.acks.snapshot();
  EXPECT_EQ(workload.failed(), 0);
  EXPECT_EQ(workload.acked(), static_cast<std::int64_t>(acks.size()));
  // 200/s for 1.5 s, open loop: about 300 writes, never a burst. A write that outlasts its slot
  // (a loaded machine) makes the writer skip the slots it missed, so fewer is allowed, more never.
  EXPECT_GE(acks.size(), 240u);
  EXPECT_LE(acks.size(), 310u);

  const Readback readback = read_back({sql_writer(db, 0, 1)}, firedrill_writes_select("orders"), acks);
  const DataLossMeasure loss = measure_data_loss(acks, readback, std::nullopt, {});
  EXPECT_TRUE(loss.readback_available);
  EXPECT_EQ(loss.acked, static_cast<std::int64_t>(acks.size()));
  EXPECT_EQ(loss.lost_acked, 0);
  EXPECT_EQ(readback.writers.at("orders").present.size(), acks.size());
  for (const Ack& ack : acks) {
    ASSERT_TRUE(ack.acked);
    EXPECT_GE(*ack.acked, ack.sent);
    EXPECT_EQ(ack.id.rfind("t1-orders-", 0), 0u);
  }

  const std::vector<Event> events = rec.events.snapshot();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, event_kind::workload_started);
  EXPECT_EQ(events[1].kind, event_kind::workload_stopped);
  EXPECT_EQ(events[1].details["acked"], workload.acked());
}

// A query that returns every id reads the table a page at a time (a cursor): more rows than a
// page, with a trailing semicolon as people write SQL, are all found and nothing else is.
TEST(SqlReadBack, AQueryReturningEveryIdReadsPastOnePage) {
  LocalPostgres db;
  {
    pqxx::connection connection(db.conninfo());
    pqxx::nontransaction sql(connection);
    sql.exec("CREATE TABLE tickets (ref text PRIMARY KEY)");
    sql.exec("INSERT INTO tickets SELECT 't-' || n FROM generate_series(1, 25001) AS n");
  }
  std::vector<Ack> acks;
  for (int n = 1; n <= 25003; ++n) acks.push_back({"t-" + std::to_string(n), "orders", 1, 2, WriteOutcome::ok, ""});
  ReadBackSpec read;
  read.kind = "sql";
  read.query = "SELECT ref FROM tickets ;\n";
  const Readback readback = read_back({sql_writer(db, 0, 1)}, read, acks);
  const auto& present = readback.writers.at("orders").present;
  EXPECT_EQ(present.size(), 25001u);
  EXPECT_TRUE(present.contains("t-25001"));
  EXPECT_FALSE(present.contains("t-25002"));
}

TEST(SqlWriter, WritesFailWhilePostgresIsDownAndSucceedAfterItIsBack) {
  LocalPostgres db;
  Recording rec;
  Workload workload({sql_writer(db, 100, 1)}, rec.acks, rec.events, real_clock());
  workload.start();
  ASSERT_TRUE(eventually([&] { return workload.acked() >= 20; }));

  db.stop();
  const Micros stopped_at = real_clock().now();
  ASSERT_TRUE(eventually([&] { return workload.failed() >= 10; }));
  db.start();
  const Micros restarted_at = real_clock().now();
  const std::int64_t acked_before_restart = workload.acked();
  ASSERT_TRUE(eventually([&] { return workload.acked() >= acked_before_restart + 30; }, 20s));
  workload.stop();

  const std::vector<Ack> acks = rec.acks.snapshot();
  for (const Ack& ack : acks) {
    if (ack.outcome != WriteOutcome::ok) {
      // Failures only while the server was down (plus the writes in flight when it stopped).
      EXPECT_GE(ack.sent, stopped_at - 1'000'000) << ack.id;
      EXPECT_LE(ack.sent, restarted_at) << ack.id << ": " << ack.error;
      EXPECT_FALSE(ack.error.empty());
    }
  }
  const Readback readback = read_back({sql_writer(db, 0, 1)}, firedrill_writes_select("orders"), acks);
  const DataLossMeasure loss = measure_data_loss(acks, readback, stopped_at, {});
  EXPECT_EQ(loss.lost_acked, 0) << (loss.lost_sample.empty() ? "" : loss.lost_sample.front());
  EXPECT_GE(loss.failed, 10);
}

TEST(SqlWriter, ClosedLoopStopsAtMaxWrites) {
  LocalPostgres db;
  Recording rec;
  WriterConfig writer = sql_writer(db, 0, 2);
  writer.max_writes = 150;
  Workload workload({writer}, rec.acks, rec.events, real_clock());
  workload.start();
  ASSERT_TRUE(eventually([&] { return rec.acks.size() >= 150; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(rec.acks.size(), 150u);
  workload.stop();
  EXPECT_EQ(read_back({writer}, firedrill_writes_select("orders"), rec.acks.snapshot()).writers.at("orders").present.size(),
            150u);
}

// A stand-in for the fixture app: POST /orders stores an id, GET /orders pages through them.
class OrdersServer {
 public:
  OrdersServer() {
    server_.Post("/orders", [this](const httplib::Request& request, httplib::Response& response) {
      if (failing_) {
        response.status = 503;
        return;
      }
      const auto body = nlohmann::json::parse(request.body);
      std::lock_guard lock(mutex_);
      ids_.insert(body.at("id").get<std::string>());
      response.status = 201;
    });
    server_.Get("/orders", [this](const httplib::Request& request, httplib::Response& response) {
      const std::string after = request.has_param("after") ? request.get_param_value("after") : "";
      const std::size_t limit = std::stoul(request.get_param_value("limit"));
      std::lock_guard lock(mutex_);
      nlohmann::json page = {{"ids", nlohmann::json::array()}, {"next", nullptr}};
      auto it = after.empty() ? ids_.begin() : ids_.upper_bound(after);
      for (; it != ids_.end() && page["ids"].size() < limit; ++it) page["ids"].push_back(*it);
      if (it != ids_.end()) page["next"] = page["ids"].back();
      ++pages_;
      response.set_content(page.dump(), "application/json");
    });
    // The socket listens from here on; connections wait in the backlog until the loop runs.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~OrdersServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  void set_failing(bool failing) { failing_ = failing; }
  void add(const std::string& id) {
    std::lock_guard lock(mutex_);
    ids_.insert(id);
  }
  void remove(const std::string& id) {
    std::lock_guard lock(mutex_);
    ids_.erase(id);
  }
  int pages() const { return pages_; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> failing_{false};
  std::atomic<int> pages_{0};
  std::mutex mutex_;
  std::set<std::string> ids_;
};

WriterConfig http_writer(const std::string& name, int port, double rate) {
  WriterConfig writer;
  writer.name = name;
  writer.request = fixture_app_write(name);
  writer.port = port;
  writer.rate_per_second = rate;
  writer.concurrency = 2;
  writer.timeout = 500ms;
  writer.id_prefix = "run7";
  writer.max_duration = 30s;
  return writer;
}

TEST(HttpWriter, AcksOnlyTwoHundredsAndReadsBackByPrefix) {
  OrdersServer app;
  Recording rec;
  const std::vector<WriterConfig> writers = {http_writer("orders", app.port(), 300),
                                             http_writer("orders-eu", app.port(), 100)};
  Workload workload(writers, rec.acks, rec.events, real_clock());
  workload.start();
  std::this_thread::sleep_for(500ms);
  app.set_failing(true);
  const Micros failing_from = real_clock().now();
  std::this_thread::sleep_for(300ms);
  const Micros failing_to = real_clock().now();
  app.set_failing(false);
  std::this_thread::sleep_for(500ms);
  workload.stop();
  app.add("someone-else-1");

  const std::vector<Ack> acks = rec.acks.snapshot();
  std::int64_t failed_in_window = 0;
  for (const Ack& ack : acks) {
    if (ack.outcome == WriteOutcome::ok) continue;
    EXPECT_EQ(ack.error, "HTTP 503");
    EXPECT_GE(ack.sent, failing_from - 50'000);
    EXPECT_LE(ack.sent, failing_to);
    ++failed_in_window;
  }
  EXPECT_GE(failed_in_window, 80);  // 400/s for 300 ms
  EXPECT_EQ(failed_in_window, workload.failed());

  Readback readback = read_back(writers, fixture_app_read_back(), acks);
  DataLossMeasure loss = measure_data_loss(acks, readback, failing_from, {});
  EXPECT_TRUE(loss.readback_available);
  EXPECT_EQ(loss.lost_acked, 0);
  EXPECT_GT(loss.acked, 300);
  std::size_t orders_eu_acked = 0;
  for (const Ack& ack : acks) orders_eu_acked += ack.writer == "orders-eu" && ack.outcome == WriteOutcome::ok;
  EXPECT_EQ(readback.writers.at("orders-eu").present.size(), orders_eu_acked);

  // A write the app lost is found missing.
  const Ack& first = acks.front();
  app.remove(first.id);
  readback = read_back(writers, fixture_app_read_back(), acks);
  loss = measure_data_loss(acks, readback, failing_from, {});
  EXPECT_EQ(loss.lost_acked, first.outcome == WriteOutcome::ok ? 1 : 0);
}

TEST(HttpWriter, ReadBackPagesThroughManyIds) {
  OrdersServer app;
  std::vector<Ack> acks;
  for (int n = 1; n <= 25'000; ++n) {
    app.add("p-w-" + std::to_string(n));
    acks.push_back(Ack{"p-w-" + std::to_string(n), "w", 0, 1, WriteOutcome::ok, {}});
  }
  const Readback readback = read_back({http_writer("w", app.port(), 1)}, fixture_app_read_back(), acks);
  EXPECT_EQ(readback.writers.at("w").present.size(), 25'000u);
  EXPECT_TRUE(readback.writers.at("w").present.contains("p-w-25000"));
  EXPECT_EQ(app.pages(), 3);
}

TEST(HttpWriter, UnreachableAppIsAnErrorNotATimeout) {
  Recording rec;
  WriterConfig writer = http_writer("orders", testing::free_port(), 50);
  Workload workload({writer}, rec.acks, rec.events, real_clock());
  workload.start();
  ASSERT_TRUE(eventually([&] { return workload.failed() >= 5; }));
  workload.stop();
  EXPECT_EQ(workload.acked(), 0);
  for (const Ack& ack : rec.acks.snapshot()) EXPECT_EQ(ack.outcome, WriteOutcome::error);
  ReadBackSpec read = fixture_app_read_back();
  read.timeout = 500ms;
  EXPECT_THROW(read_back({writer}, read, rec.acks.snapshot()), std::runtime_error);
}

}  // namespace
}  // namespace firedrill
