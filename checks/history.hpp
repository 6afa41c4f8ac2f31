#pragma once
// The recorded history of a drill: the timeline (events.jsonl) and the ack log (acks.jsonl).
// Every check is a pure function of these records (see checks/measure/).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/clock.hpp"
#include "core/secrets.hpp"

namespace firedrill {

/// One line of events.jsonl. On disk: {"t": RFC 3339 UTC with microseconds, "kind": ..., ...details}.
struct Event {
  Micros t = 0;
  std::string kind;
  nlohmann::json details = nlohmann::json::object();  // flattened into the line beside t and kind
};

/// Event kinds the measurement reads. Other kinds are kept but not interpreted.
namespace event_kind {
inline constexpr const char* run_started = "run.started";
inline constexpr const char* run_finished = "run.finished";
inline constexpr const char* incident = "incident";             // T0; details: step, fault, target
inline constexpr const char* fault_injected = "fault.injected";  // details: fault, target, step, incident
inline constexpr const char* fault_reverted = "fault.reverted";  // details: fault, target
inline constexpr const char* probe = "probe";  // a probe state change; details: probe, service, ok, error
inline constexpr const char* step_started = "step.started";    // details: step, index, verb
inline constexpr const char* step_finished = "step.finished";  // details: step, index, verb, what, target, outcome, error
inline constexpr const char* workload_started = "workload.started";
inline constexpr const char* workload_stopped = "workload.stopped";
inline constexpr const char* readback = "readback";  // details: writer, present (count), missing (count)
// How late the harness's own timer woke over one window: from, samples, p99_delay_ms, max_delay_ms.
inline constexpr const char* harness_scheduling = "harness.scheduling";
}  // namespace event_kind

/// Outcome of one write.
enum class WriteOutcome { ok, error, timeout };
const char* to_string(WriteOutcome outcome);

/// One line of acks.jsonl: {"id","writer","sent","acked" (or null),"outcome","error"?}; times RFC 3339.
struct Ack {
  std::string id;
  std::string writer;
  Micros sent = 0;
  std::optional<Micros> acked;  // set only when the store/app confirmed the write
  WriteOutcome outcome = WriteOutcome::error;
  std::string error;  // short reason when not ok; omitted from the line when empty
};

/// RFC 3339 UTC with exactly six fractional digits, e.g. 2026-11-25T12:00:00.123456Z.
std::string format_rfc3339_micros(Micros t);
/// Parses what format_rfc3339_micros writes (and any RFC 3339 with 0-9 fractional digits and Z or
/// an offset). Throws std::invalid_argument naming the text.
Micros parse_rfc3339(const std::string& text);

nlohmann::json to_json(const Event& event);
Event event_from_json(const nlohmann::json& line);
nlohmann::json to_json(const Ack& ack);
Ack ack_from_json(const nlohmann::json& line);

/// Appends JSON lines to a file from many threads. Each line is written whole and flushed, so
/// a harness killed mid-run leaves every completed line readable.
class JsonlWriter {
 public:
  explicit JsonlWriter(const std::filesystem::path& path);
  void append(const nlohmann::json& line);
  void flush();

 private:
  std::mutex mutex_;
  std::ofstream out_;
};

/// The run's timeline. Thread-safe; also keeps the events in memory for the analysis.
class EventLog {
 public:
  /// Every event's details pass through `secrets` (when given) before they are kept or
  /// written: the history a report is made of never holds a password or invalid UTF-8.
  EventLog(const std::filesystem::path& path, const Clock& clock, const SecretScrubber* secrets = nullptr);
  /// Records an event stamped now() and returns its time.
  Micros record(const std::string& kind, nlohmann::json details = nlohmann::json::object());
  /// Records an event with a time the caller measured (e.g. when a probe answered).
  void record_at(Micros t, const std::string& kind, nlohmann::json details = nlohmann::json::object());
  std::vector<Event> snapshot() const;
  const Clock& clock() const { return clock_; }

 private:
  nlohmann::json clean(nlohmann::json details) const;

  const Clock& clock_;
  const SecretScrubber* secrets_;
  mutable std::mutex mutex_;
  std::vector<Event> events_;
  JsonlWriter writer_;
};

/// The ack log. Thread-safe; keeps the acks in memory for the analysis.
class AckLog {
 public:
  /// With `secrets`, each write's error is masked, made valid UTF-8 and cut to 512 bytes (a
  /// service under drill wrote it), and an id the service gave that holds a secret is recorded as a
  /// failed write under the masked id.
  explicit AckLog(const std::filesystem::path& path, const SecretScrubber* secrets = nullptr);
  void record(Ack ack);
  std::vector<Ack> snapshot() const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::vector<Ack> acks_;
  JsonlWriter writer_;
  const SecretScrubber* secrets_;
};

/// Calls `visit` with each non-blank line of a JSON-lines file, parsed. A line that does not parse
/// or that `visit` rejects (by throwing) throws std::runtime_error naming path:line.
void for_each_jsonl_line(const std::filesystem::path& path, const std::function<void(const nlohmann::json&)>& visit);

/// Reads a whole events.jsonl / acks.jsonl (for re-checking a saved run). A malformed line throws
/// std::runtime_error naming path:line.
std::vector<Event> read_events(const std::filesystem::path& path);
std::vector<Ack> read_acks(const std::filesystem::path& path);

}  // namespace firedrill
