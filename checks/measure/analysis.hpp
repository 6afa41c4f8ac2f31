#pragma once
// RTO, RPO and lost acknowledged writes as pure functions of a recorded history (events + acks +
// what was read back after recovery), with the write statistics and the measurement quality shown
// beside them. Nothing here does I/O except the readback.jsonl functions. analysis.cpp measures
// recovery, data_loss.cpp what was lost (and reads and writes readback.jsonl), timing.cpp the
// late rule, the write statistics and the measurement quality.
//
// Definitions:
// * T0 is the time of the earliest `incident` event. Without one, the recovery measures and the
//   RPO are null.
// * A `probe` event is a state change of one probe (details: probe, service, ok, latency_ms). An
//   up event is stamped when the good answer arrived; a down event when the request that failed
//   was sent, its latency_ms saying when the failure came back. The state of a probe at time t is
//   that of its last event at or before t; a probe without an event yet is unknown, which counts
//   as down.
// * A component is "overall" (every probe, every writer) or a service (the probes whose `service`
//   is it, the writers whose `through` is it); ComponentScope lists them explicitly.
// * probes recovered at: the earliest t >= T0 such that every probe of the scope is up throughout
//   [t, t + stable) and t + stable <= the end of the history. t is T0 when all are up at T0 and
//   stay up, else the time of an up transition. A scope without probes recovers at T0.
// * writes recovered at: the earliest ack time a of an ok write of the scope's writers sent at or
//   after T0 (the answer to a write sent before may have left the service just before the fault
//   took effect) such that no write of those writers sent in [a, a + stable] failed (error or
//   timeout), with a + stable <= the end of the history. A scope without writers recovers at T0.
// * recovered at = max(probes recovered at, writes recovered at); RTO = recovered at - T0.
// * A write of the scope is late when it was answered more than max(10 ms, 3 × the p99 latency of
//   the scope's writes answered before T0) after it was sent. A probe sample is late by the same
//   rule against that probe's own last 100 answers in time, three late answers in a row becoming
//   its usual (the prober records a late sample as a down event stamped when the sample was sent,
//   with `late: true`, then an up event when the answer came). Late answers count as down for
//   detection and downtime only: recovery (above) is judged on answers, so a slow moment inside
//   the stable window does not restart it.
// * A writer is down from the sending of a write that failed until the writer's next
//   acknowledgement (the end of the history when none came), and from the sending of a late write
//   until its answer. A probe is down from its down event to its next up event.
// * detected at: the first moment at or after the incident's `requested_at` (T0 when the event
//   has none) at which a probe or writer of the scope goes down because of a failed or late
//   request. A request sent before that moment and answered only after it (failed or late)
//   detects the incident at once, and so does a writer still down then; a probe that had been
//   failing for longer detects nothing new. Nothing after recovered at (the end of the history
//   when never recovered) detects the incident: detected at is null when nothing failed before.
//   detect is never negative.
// * downtime: the total time in [T0, recovered at] during which at least one probe of the scope
//   was down (or unknown) or one writer of the scope was down; when never recovered, measured up
//   to the end of the history. So a freeze too short for any request to fail still shows as
//   downtime, and downtime never exceeds the RTO.
// * Lost acknowledged writes = acked ∖ present (read back after recovery). RPO = T0 - ack time of
//   the earliest lost write acknowledged before T0; 0 when none was lost before T0; null without a
//   readback or an incident. Writes acknowledged at or after T0 and lost (split brain) are counted
//   apart.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "checks/history.hpp"

namespace firedrill {

using Duration = std::chrono::microseconds;

/// Which probes and writers make up one component (see the definitions above).
struct ComponentScope {
  std::string name;                  // "overall" or a service name
  std::vector<std::string> probes;   // probe names
  std::vector<std::string> writers;  // writer names; empty = the component has no writers
  Duration stable{std::chrono::seconds(1)};
};

/// The "overall" scope: every probe that has an event and every writer that has an ack.
ComponentScope overall_scope(const std::vector<Event>& events, const std::vector<Ack>& acks,
                             Duration stable);
/// The names of the probes whose events carry `service` == service, in order of first event.
std::vector<std::string> probes_of_service(const std::vector<Event>& events, const std::string& service);

/// When and whether a component came back after the incident. Times are µs since the epoch.
struct RecoveryMeasure {
  std::optional<Micros> incident_at;   // T0
  std::optional<Micros> detected_at;   // first failed or late request of the scope (see above)
  std::optional<Micros> recovered_at;  // max(probes recovered, writes recovered)
  std::optional<Micros> probes_recovered_at;
  std::optional<Micros> writes_recovered_at;
  std::optional<double> rto_seconds;
  std::optional<double> detect_seconds;
  std::optional<double> downtime_seconds;
  bool recovered = false;
  std::string reason;  // how it was computed, or what never came back
};

/// Measures recovery of one component. history_end defaults to the last event or ack time (and
/// is never before T0).
/// Events and acks need not be sorted.
RecoveryMeasure measure_recovery(const std::vector<Event>& events, const std::vector<Ack>& acks,
                                 const ComponentScope& scope,
                                 std::optional<Micros> history_end = std::nullopt);

/// Nearest-rank percentile: the smallest value with at least `p` (0-1) of them at or below it.
/// Reorders `values`, which must not be empty.
Micros nearest_rank_percentile(std::span<Micros> values, double p);
/// Beyond this latency an answer is late, given the latencies of the usual answers:
/// max(10 ms, 3 × their p99) (the definitions above). Reorders them; none: 10 ms.
Micros late_after(std::span<Micros> usual_latencies);

/// How far the timing of a drill can be trusted around an incident, from the `harness.scheduling`
/// events of the windows overlapping [from, to]: how late the harness's timer thread woke, and the
/// share of time something runnable on the machine waited for a CPU (PSI). The figures are `exact`
/// when the harness always woke within the tolerance of a measurement, max(10 ms, 0.5 % of the
/// RTO), and the CPUs were contended less than a tenth of the time; otherwise `degraded`: the
/// harness's clocks or the services' answers were slowed by the machine, not only by the fault.
/// Without such events (a history recorded before they existed) the quality is unknown.
struct MeasurementQuality {
  std::optional<double> max_delay_ms, p99_delay_ms, cpu_pressure_percent;
  double tolerance_ms = 10;
  std::string verdict = "unknown";  // exact | degraded | unknown
  std::string note;
};
MeasurementQuality measurement_quality(const std::vector<Event>& events, Micros from, Micros to,
                                       std::optional<double> rto_seconds);

/// When the incident's fault stopped (its revert was asked for): what follows until recovery is the
/// system's own time to serve again. Nothing when the fault was never reverted (a kill).
std::optional<Micros> incident_fault_ended_at(const std::vector<Event>& events);

/// A set of write ids with fast membership. Ids of the form `<stem>-<n>` (n a decimal without
/// leading zeros, below 2^27) are kept as one bitmap per stem, for up to 16 stems, so testing
/// millions of acks costs no hashing; any other id goes to a hash set.
class IdSet {
 public:
  void insert(std::string_view id);
  bool contains(std::string_view id) const;
  std::size_t size() const { return size_; }
  /// Every id, stems in order of first insertion with n ascending, then the other ids sorted.
  std::vector<std::string> ids() const;

 private:
  struct Stem {
    std::string text;  // without the trailing '-'
    std::vector<std::uint64_t> bits;
  };
  std::size_t stem_index(std::string_view stem) const;  // stems_.size() when absent
  std::vector<Stem> stems_;
  std::unordered_set<std::string> others_;
  std::size_t size_ = 0;
};

/// What one writer's data looked like after recovery.
struct WriterReadback {
  Micros t = 0;  // when it was read
  IdSet present;
  std::string error;  // why it could not be read back (then `present` means nothing)
};

/// The ids read back after recovery, per writer name.
struct Readback {
  std::map<std::string, WriterReadback> writers;
  bool has(const std::string& writer) const { return writers.count(writer) != 0; }
};

/// Writes readback.jsonl: one line per writer {"writer", "t" (RFC 3339), "present": [ids...]}, or
/// {"writer", "t", "error"} for a writer that could not be read back,
/// replacing the file.
void write_readback(const std::filesystem::path& path, const Readback& readback);
/// Reads readback.jsonl; a malformed line throws std::runtime_error naming path:line.
Readback read_readback(const std::filesystem::path& path);

/// Acknowledged writes that did not survive.
struct DataLossMeasure {
  std::int64_t writes_sent = 0, acked = 0, failed = 0;
  std::int64_t lost_acked = 0;  // acked ∖ present
  std::int64_t lost_acked_before_incident = 0, lost_acked_after_incident = 0;  // after: split brain
  std::optional<double> rpo_seconds;  // see the definitions above
  std::vector<std::string> lost_sample;  // up to 20 lost ids, earliest ack first
  bool readback_available = false;       // every writer with acked writes was read back
  std::string readback_error;            // the first read-back that failed, and why: loss unknown
};

/// Counts the writes of `writers` (empty: all writers) and, when every writer with an acked write
/// was read back, the acked writes missing from the readback. Without a full readback the lost
/// counts stay 0 and rpo is null.
DataLossMeasure measure_data_loss(const std::vector<Ack>& acks, const Readback& readback,
                                  std::optional<Micros> incident_at,
                                  const std::vector<std::string>& writers);

/// Latency and errors of the writes sent in [from, to).
struct WriteStats {
  std::int64_t sent = 0, ok = 0, failed = 0;
  double error_rate = 0;  // failed / sent; 0 when none was sent
  std::optional<double> p50_latency_ms, p90_latency_ms, p99_latency_ms, max_latency_ms;  // over ok writes
  double ok_per_second = 0;                                              // ok / (to - from)
};
WriteStats write_stats(const std::vector<Ack>& acks, Micros from, Micros to);

/// The time a fault was in force: from the instant it took effect to its revert, or to `until`
/// (the last write) when it was never reverted.
struct FaultWindow {
  std::string step, fault, target;
  Micros from = 0, to = 0;
};
/// Every fault's window, in the order the faults were injected.
std::vector<FaultWindow> fault_windows(const std::vector<Event>& events, Micros until);

/// T0: the time of the first incident event, if any.
std::optional<Micros> incident_time(const std::vector<Event>& events);

}  // namespace firedrill
