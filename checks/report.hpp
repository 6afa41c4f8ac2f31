#pragma once
// report.json as a type: what a run measured and judged, with the run's records around it, and
// its one JSON mapping (to_json / from_json below). The evaluation fills the measured and judged
// parts, the engine the rest, every writer reads it. The JSON it maps to is the contract (schema
// `firedrill/report/v1`, described in the README): a report read and written again is the same
// document, keys this type does not name included (`extra`).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace firedrill {

/// A judgement, ordered from best to worst so that the worst of several wins: a check that
/// failed outweighs one that could not be judged (no read-back, a query that never ran), which
/// outweighs a pass. report.json has no word for `unknown`: a check that could not be judged is
/// written `passed: false` with a detail that says why ("not measured: …"), and a run whose worst
/// judgement is unknown has the verdict "fail" — it did not prove what it was meant to.
enum class Verdict { pass, unknown, fail };

Verdict worst(Verdict a, Verdict b);
/// "pass", "unknown" or "fail".
std::string verdict_name(Verdict verdict);
/// The verdict as report.json writes it: "pass", else "fail".
std::string report_verdict_word(Verdict verdict);

/// An objective (`components.<name>.rto` / `.rpo`): the measure against the target.
struct ObjectiveResult {
  std::optional<double> measured_seconds;
  double target_seconds = 0;
  bool met = false;
};

/// `components.<name>`: how the component fared, and its objectives when the scenario set them.
struct ComponentResult {
  std::optional<double> detect_seconds;
  std::optional<double> downtime_seconds;
  bool recovered = false;
  std::string recovery;  // how it was computed, or what never came back
  std::optional<ObjectiveResult> rto;
  std::optional<ObjectiveResult> rpo;
  bool met = true;  // every objective set was met
};

/// `checks[]`: one judged check.
struct CheckOutcome {
  std::string name;  // e.g. "rto(overall)"
  Verdict verdict = Verdict::fail;
  std::string detail;  // measured vs expected, in words, or why it could not be judged
  bool passed() const { return verdict == Verdict::pass; }
};

/// Writes over a window of time (`measured.before_faults`, `measured.during_faults[]`).
struct WriteWindow {
  std::string from, to;  // RFC 3339
  std::int64_t writes_sent = 0, writes_failed = 0;
  double error_rate = 0;
  std::optional<double> p50_write_latency_ms, p90_write_latency_ms, p99_write_latency_ms, max_write_latency_ms;
  // Only in `during_faults`: the step whose fault was in force, the fault and its target.
  std::optional<std::string> step, fault, target;
};

/// `measured.during_incident`: the writes while the system was down.
struct IncidentWrites {
  std::int64_t writes_sent = 0;
  double error_rate = 0;
  std::optional<double> p50_write_latency_ms, p99_write_latency_ms;
};

/// `measured.measurement_quality` (see "How measurement works" in the README).
struct QualityOfTiming {
  std::string verdict;  // exact | degraded | unknown
  double tolerance_ms = 0;
  std::optional<double> scheduling_delay_max_ms, scheduling_delay_p99_ms, cpu_pressure_percent;
  std::string note;
};

/// `measured`: the whole system's figures.
struct Measured {
  std::optional<double> rto_seconds, rpo_seconds, downtime_seconds, detect_seconds;
  std::optional<std::int64_t> writes_sent, acked_writes, failed_writes;       // null in a report that never measured
  std::optional<std::int64_t> lost_acked_writes, lost_acked_after_incident;  // null without a read-back
  /// Each recovery phase's time (RFC 3339) or null: incident_at, detected_at, probes_recovered_at,
  /// writes_recovered_at, recovered_at, and fault_ended_at when the incident's fault was reverted.
  std::map<std::string, std::optional<std::string>> phases;
  std::string recovery;
  std::optional<double> recovered_after_fault_ended_seconds;
  std::optional<QualityOfTiming> measurement_quality;
  std::optional<IncidentWrites> during_incident;
  std::optional<WriteWindow> before_faults;
  std::vector<WriteWindow> during_faults;  // absent from the JSON when empty
  nlohmann::json extra = nlohmann::json::object();
};

struct ScenarioIdentity {
  std::string name, file, sha256, description, runbook;
  std::optional<std::vector<std::string>> tags;  // absent from reports older than tags
  nlohmann::json extra = nlohmann::json::object();
};

/// `faults[]`: a fault as it was applied.
struct FaultRecord {
  std::string type, target, step;
  bool incident = false;
  std::string injected_at;
  std::optional<std::string> reverted_at;
  nlohmann::json details;
  nlohmann::json extra = nlohmann::json::object();
};

/// `steps[]`: a step as it ran (a step never reached has only its name, verb and outcome).
struct StepRecord {
  std::string name, verb, outcome;
  std::optional<std::string> what, target, started_at, finished_at;
  std::optional<double> duration_seconds;
  std::optional<std::string> error;  // present when it failed
  nlohmann::json details;            // what the action reported; null when none
  nlohmann::json human;              // a person's step: completed_by, seconds, budget; null otherwise
  nlohmann::json extra = nlohmann::json::object();
};

struct ServiceRecord {
  std::string name, kind, image, image_id, endpoint;
  nlohmann::json extra = nlohmann::json::object();  // e.g. patroni
};

struct EnvironmentRecord {
  std::string runtime;
  std::vector<ServiceRecord> services;
  std::string firedrill_version, host;
  nlohmann::json extra = nlohmann::json::object();
};

/// `harness`: the harness's own time, apart from the recovery it measures.
struct HarnessTimes {
  double bringup_seconds = 0, drill_seconds = 0, teardown_seconds = 0;
};

struct Artifact {
  std::string path, sha256;
};

struct Report {
  std::string schema = "firedrill/report/v1";
  std::string run_id;
  std::string mode;
  ScenarioIdentity scenario;
  Verdict verdict = Verdict::fail;
  std::vector<std::string> reasons;  // why it failed, in sentences
  std::string started_at, finished_at;
  std::optional<std::string> incident_at;
  Measured measured;
  std::map<std::string, ComponentResult> components;
  std::vector<CheckOutcome> checks;
  std::vector<FaultRecord> faults;
  std::vector<StepRecord> steps;
  std::optional<HarnessTimes> harness;
  std::optional<EnvironmentRecord> environment;
  std::optional<std::string> expected;  // "fail" for a drill expected to fail; absent otherwise
  std::optional<std::vector<Artifact>> artifacts;
  nlohmann::json extra = nlohmann::json::object();  // keys this type does not name, kept as read

  bool expects_failure() const { return expected == "fail"; }
  bool passed() const { return verdict == Verdict::pass; }
};

// The one mapping between the type and report.json. Reading is lenient, as the writers always
// were: a missing or mistyped field is its default (null, empty, 0), so a partial report still
// renders.
void to_json(nlohmann::json& json, const Report& report);
void from_json(const nlohmann::json& json, Report& report);
void to_json(nlohmann::json& json, const Measured& measured);
void to_json(nlohmann::json& json, const ComponentResult& component);
void to_json(nlohmann::json& json, const CheckOutcome& check);
// The engine's records, as it describes them (faults, steps, services).
void from_json(const nlohmann::json& json, FaultRecord& fault);
void from_json(const nlohmann::json& json, StepRecord& step);
void from_json(const nlohmann::json& json, ServiceRecord& service);

/// from_json as a function; a document that is not an object reads as an empty report.
Report report_from_json(const nlohmann::json& json);

}  // namespace firedrill
