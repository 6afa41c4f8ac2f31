#pragma once
// The steady workload of a drill: writers that keep writing and record every write, with its
// outcome, in the ack log. Each write is made by the writer's contract (write_request.hpp); what
// survived is read back after recovery (read_back.hpp).
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
#include "clients/workload/write_request.hpp"

namespace firedrill {

/// One writer. Ids are `<id_prefix>-<name>-<n>` (`<name>-<n>` without a prefix), n counting from 1.
struct WriterConfig {
  std::string name;
  WriteRequestSpec request;  // how each write is made (implied_contracts.hpp for the usual ones)
  std::string host = "127.0.0.1";
  int port = 0;
  std::string conninfo;                   // sql: libpq conninfo
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

/// Where and how the writer's threads write.
WriteTarget write_target(const WriterConfig& writer);

/// The id a writer gives its n-th write.
std::string write_id(const WriterConfig& writer, std::int64_t n);

/// Runs the writers on their own threads. Every write is recorded in the AckLog: `sent` just
/// before it is sent, `acked` when the answer its contract expects arrived (a 2xx or the listed
/// statuses, the COMMIT, a reply that is no error); any other answer is an error, no answer within
/// the timeout a timeout. A writer whose contract takes the id from the answer (`id_from`)
/// records an acknowledged write under that id, a failed one under firedrill's.
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

  /// Runs the sql writers' setup statements (retrying for up to 10 s; throws std::runtime_error
  /// when the database never answered), then starts every writer's threads and records
  /// `workload.started`.
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

}  // namespace firedrill
