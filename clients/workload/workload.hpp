#pragma once
// The steady workload of a drill: writers that keep writing and record every write, with its
// outcome, in the ack log. What survived is read back after recovery (read_back_http/sql).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "checks/history.hpp"
#include "checks/measure/analysis.hpp"
#include "clients/redis_master.hpp"

namespace firedrill {

/// One writer. Ids are `<id_prefix>-<name>-<n>` (`<name>-<n>` without a prefix), n counting from 1.
struct WriterConfig {
  std::string name;
  std::string kind;  // "http" | "sql" | "redis" (SET <id> <sent>, acked on OK)
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/orders";
  std::string conninfo;         // sql: libpq conninfo
  std::optional<SentinelGroup> sentinel;  // redis: write to the group's current master, not host:port
  std::string password;                   // redis: AUTH with it after connecting (empty: none)
  double rate_per_second = 0;   // 0 = as fast as possible (closed loop)
  int concurrency = 1;
  std::chrono::milliseconds timeout{2000};
  std::string id_prefix;
  // Safety bounds: the writer stops itself when either is reached.
  std::chrono::seconds max_duration{600};
  std::int64_t max_writes = 10'000'000;
};

/// The id a writer gives its n-th write.
std::string write_id(const WriterConfig& writer, std::int64_t n);

/// Runs the writers on their own threads. Every write is recorded in the AckLog: `sent` just
/// before it is sent, `acked` when the 2xx response or the COMMIT arrived; any other answer is an
/// error, no answer within the timeout a timeout.
///
/// Pacing: with a rate, each of a writer's threads writes at rate/concurrency on a fixed schedule;
/// a write slower than its slot makes the thread skip the missed slots (it never bursts to catch
/// up). Without a rate, each thread writes again as soon as the previous write finished.
class Workload {
 public:
  Workload(std::vector<WriterConfig> writers, AckLog& acks, EventLog& events, const Clock& clock);
  ~Workload();  // stops
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  /// Creates the sql writers' table when absent (retrying for up to 10 s; throws
  /// std::runtime_error when the database never answered), then starts every writer's threads and
  /// records `workload.started`.
  void start();
  /// Stops the writers, waits for the writes in flight (each bounded by its timeout) and records
  /// `workload.stopped` with the counts. Idempotent.
  void stop();

  std::int64_t acked() const { return acked_.load(); }
  std::int64_t failed() const { return failed_.load(); }

 private:
  struct Shared;
  void run_thread(std::size_t writer_index, int thread_index);

  std::vector<WriterConfig> writers_;
  AckLog& acks_;
  EventLog& events_;
  const Clock& clock_;
  std::unique_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
  std::atomic<std::int64_t> acked_{0};
  std::atomic<std::int64_t> failed_{0};
  bool started_ = false;
};

/// The table the sql writer inserts into.
inline constexpr const char* sql_writes_table = "firedrill_writes";

/// Reads back what the app holds: pages `GET /orders?after=<id>&limit=10000` (answer
/// `{"ids":[...],"next":<id or null>}`) and gives each id to the writer whose `<id_prefix>-<writer>-`
/// prefix it carries (the longest such prefix followed by digits only). Every named writer gets an
/// entry, even an empty one. Throws std::runtime_error when the app does not answer well.
Readback read_back_http(const std::string& host, int port, const std::string& id_prefix,
                        const std::vector<std::string>& writer_names, std::chrono::milliseconds timeout,
                        const Clock& clock = real_clock());

/// Reads back one sql writer's ids (`SELECT id FROM firedrill_writes WHERE writer = $1`); the
/// result has one entry, for `writer` (merge several with `a.writers.merge(b.writers)`). Throws
/// std::runtime_error (never showing the conninfo) when the database fails.
Readback read_back_sql(const std::string& conninfo, const std::string& writer, const Clock& clock = real_clock());

/// Reads back one redis writer's ids: the keys `<id_prefix>-<writer>-<digits>` (SCAN) on host:port,
/// or on the group's current master, authenticating with `password` (empty: none). The result has
/// one entry, for `writer`. Throws std::runtime_error when Redis (or every sentinel) fails.
Readback read_back_redis(const std::string& host, int port, const std::optional<SentinelGroup>& sentinel,
                         const std::string& password, const std::string& id_prefix, const std::string& writer,
                         const Clock& clock = real_clock());

/// Reads back what `writer` wrote, the way its kind reads: read_back_http (waiting at most 30 s
/// for the app), read_back_sql or read_back_redis, at the writer's address, with its credentials
/// and id prefix. The result has one entry, for the writer.
Readback read_back_writes(const WriterConfig& writer, const Clock& clock = real_clock());

}  // namespace firedrill
