#pragma once
// Health probes polled at a fixed interval. The timeline records only their state changes.
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "checks/history.hpp"
#include "clients/redis_master.hpp"

namespace firedrill {

/// One probe. type: "http" (GET path, 2xx = up), "sql" (query answers), "redis" (PING answers
/// PONG), "tcp" (a connection is accepted).
struct ProbeConfig {
  std::string name;
  std::string type;
  std::string service;  // the service it stands for (the component of the measurement)
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/health";
  int expect_status = 0;  // http: the status that means up; 0: any 2xx
  std::string conninfo;  // sql: libpq conninfo
  std::string query = "SELECT 1";
  std::chrono::microseconds interval{20000};
  std::chrono::milliseconds timeout{1000};
  /// redis: with a group, the probe asks its sentinels for the master and is up when that server
  /// answers ROLE as a master (it accepts writes), instead of PINGing host:port.
  std::optional<SentinelGroup> sentinel;
  /// redis: the server's password (AUTH after connecting); empty: none.
  std::string password;
};

/// The result of one sample.
struct ProbeAnswer {
  bool ok = false;
  std::string error;  // empty when ok
};

/// One sample with a fresh connection (used to wait for a service to become ready).
ProbeAnswer probe_once(const ProbeConfig& probe);

/// Polls each probe on its own thread, keeping its connection across samples (reconnecting after
/// a failure). A sample starts every `interval` after the previous one started, or at once when
/// the previous one took longer. A `probe` event is recorded for the first sample and for each
/// change of state (details: probe, service, ok, latency_ms, error when down): an up change is
/// stamped when the good answer arrived, a down change when the failed request was sent.
class Prober {
 public:
  Prober(std::vector<ProbeConfig> probes, EventLog& events, const Clock& clock);
  ~Prober();  // stops
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  void start();
  /// Stops polling and waits for the samples in flight (each bounded by its timeout). Idempotent.
  void stop();

  /// Current state: true = the last answer was ok and arrived recently (within
  /// max(4 × interval, 250 ms)), so a probe hanging on a frozen service is down. Probes not yet
  /// sampled are absent.
  std::map<std::string, bool> state() const;
  /// True when every named probe's last answer was ok (false for an unknown or unsampled probe).
  bool all_up(const std::vector<std::string>& probe_names) const;

 private:
  struct Shared;
  void run(const ProbeConfig& probe);

  std::vector<ProbeConfig> probes_;
  EventLog& events_;
  const Clock& clock_;
  std::unique_ptr<Shared> shared_;
  std::vector<std::thread> threads_;
};

}  // namespace firedrill
