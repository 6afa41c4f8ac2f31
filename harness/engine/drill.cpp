#include "harness/engine/drill.hpp"

#include <openssl/rand.h>
#include <unistd.h>

#include <memory>

#include <fmt/format.h>

#include "checks/evaluate.hpp"
#include "core/interrupt.hpp"
#include "harness/engine/environment.hpp"
#include "harness/engine/fault_ledger.hpp"
#include "harness/engine/observers.hpp"
#include "harness/engine/run_records.hpp"
#include "harness/engine/step_runner.hpp"
#include "harness/rehearse/operator.hpp"
#include "harness/services/registry.hpp"
#include "reports/artifacts.hpp"
#include "reports/registry.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

std::string random_hex(int bytes) {
  std::vector<unsigned char> buffer(static_cast<std::size_t>(bytes));
  if (RAND_bytes(buffer.data(), bytes) != 1) throw EnvironmentError("the system's random generator gave no bytes for a run id");
  std::string text;
  for (unsigned char byte : buffer) text += fmt::format("{:02x}", byte);
  return text;
}

/// One drill: the run directory and its records, then the environment, the observers, the steps
/// and the faults they apply, in the order of a run; the report from what was recorded.
class Drill {
 public:
  Drill(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, const Clock& clock)
      : scenario_(scenario), runtime_(runtime), options_(options), clock_(clock) {}

  DrillResult run();

 private:
  void prepare_run_directory();
  void tear_down();
  Report build_report(Evaluation evaluation);

  const Scenario& scenario_;
  Runtime& runtime_;
  const DrillOptions& options_;
  const Clock& clock_;

  DrillResult result_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<AckLog> acks_;
  std::unique_ptr<Progress> progress_;
  SecretScrubber secrets_;
  std::vector<std::string> failures_;
  std::unique_ptr<RunRecords> records_;
  std::unique_ptr<Environment> environment_;
  std::unique_ptr<FaultLedger> faults_;
  std::unique_ptr<Observers> observers_;
  std::unique_ptr<StepRunner> steps_;
  Micros started_at_ = 0, bringup_done_at_ = 0, steps_done_at_ = 0, teardown_started_at_ = 0, finished_at_ = 0;
  bool torn_down_ = false;
};

void Drill::prepare_run_directory() {
  // Drills running at once share the out directory and may draw the same id in one second: an id
  // is taken by creating its directory, which only one of them can do.
  std::filesystem::create_directories(options_.out_dir);
  do {
    result_.run_id = new_run_id(clock_);
    result_.run_dir = options_.out_dir / result_.run_id;
  } while (!std::filesystem::create_directory(result_.run_dir));
  std::filesystem::create_directories(result_.run_dir / "logs");
  journal_ = std::make_unique<Journal>(result_.run_dir, result_.run_id, scenario_.name, Owner::self());
  // Secrets the scenario names in `env:` are known before the first event; the services add
  // theirs (generated passwords) as they are made.
  for (const auto& secret : secrets_of(scenario_)) secrets_.add(secret);
  events_ = std::make_unique<EventLog>(result_.run_dir / "events.jsonl", clock_, &secrets_);
  acks_ = std::make_unique<AckLog>(result_.run_dir / "acks.jsonl", &secrets_);
  progress_ = options_.human ? forward_progress(*options_.human)
                            : make_progress(options_.progress, scenario_, clock_, options_.progress_prefix);
  write_file_atomically(result_.run_dir / "junit.xml", render_unfinished_junit(scenario_.name, result_.run_id));
  records_ = std::make_unique<RunRecords>(
      RunRecords{result_.run_id, result_.run_dir, clock_, *journal_, *events_, *acks_, secrets_, *progress_, failures_});
  environment_ = std::make_unique<Environment>(scenario_, runtime_, options_, *records_);
  faults_ = std::make_unique<FaultLedger>(runtime_, *records_, *environment_);
  observers_ = std::make_unique<Observers>(scenario_, options_, *records_, *environment_);
  steps_ = std::make_unique<StepRunner>(scenario_, runtime_, options_, *records_, *environment_, *faults_, *observers_);
}

void Drill::tear_down() {
  if (torn_down_) return;
  torn_down_ = true;
  teardown_started_at_ = clock_.now();
  if (progress_) progress_->set_status({});
  if (options_.human) options_.human->observe({});
  observers_->stop();
  faults_->revert_all();
  if (options_.keep) {
    journal_->mark_kept();
    progress_->note(fmt::format("--keep: the environment of run {} is left up; `firedrill down {}` removes it",
                                result_.run_id, result_.run_id));
    return;
  }
  try {
    environment_->tear_down();
    journal_->finish();
  } catch (const std::exception& error) {
    failures_.push_back(fmt::format("teardown incomplete: {} (run `firedrill cleanup {}`)", error.what(), result_.run_id));
  }
}

DrillResult Drill::run() {
  started_at_ = clock_.now();
  prepare_run_directory();
  events_->record(event_kind::run_started, {{"run_id", result_.run_id}, {"scenario", scenario_.name},
                                            {"mode", options_.mode}});
  std::optional<Readback> readback;
  try {
    environment_->bring_up();
    if (!interrupted()) observers_->start();
    bringup_done_at_ = clock_.now();
    if (!interrupted()) steps_->run_steps();
    steps_done_at_ = clock_.now();
    observers_->stop_writing();
    if (!interrupted()) {
      faults_->revert_all();
      readback = observers_->read_back();
      observers_->gather_for_checks();
    }
    environment_->collect_logs();
  } catch (const EnvironmentError& error) {
    result_.environment_error = secrets_.scrub(error.what());
    events_->record("environment.error", {{"error", result_.environment_error}});
    environment_->collect_logs();
  } catch (const std::exception& error) {
    // Whatever went wrong, the faults are reverted and the environment removed below.
    failures_.push_back(fmt::format("the drill stopped on an unexpected error: {}", secrets_.scrub(error.what())));
    events_->record("drill.error", {{"error", failures_.back()}});
    environment_->collect_logs();
  }
  tear_down();
  finished_at_ = clock_.now();
  events_->record(event_kind::run_finished, {{"run_id", result_.run_id}});
  progress_->finish();

  result_.interrupted = interrupted();
  const Report report = build_report(evaluate(scenario_, events_->snapshot(), acks_->snapshot(), readback));
  // The one sink every report format is rendered from (with the already scrubbed history).
  result_.report = secrets_.scrub_json(report);
  write_report_files(result_.run_dir, result_.report);
  result_.passed = report.passed();
  // A drill expected to fail proves that a fault is caught: it succeeds when its verdict is
  // fail, and passing means the fault did not bite. Interruptions and environment errors are
  // never what a drill expects.
  const bool as_expected = result_.passed == (scenario_.expect != "fail");
  result_.exit_code = result_.interrupted                   ? 130
                      : !result_.environment_error.empty() ? 3
                      : as_expected                        ? 0
                                                           : 1;
  return result_;
}

Report Drill::build_report(Evaluation evaluation) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  Report report;
  report.reasons = failures_;
  if (!result_.environment_error.empty()) report.reasons.push_back(result_.environment_error);
  if (result_.interrupted) report.reasons.push_back("interrupted by a signal; faults reverted and the environment torn down");
  // What stopped the harness outweighs any judgement of what it measured.
  report.verdict = report.reasons.empty() ? evaluation.verdict : Verdict::fail;
  for (auto& failure : evaluation.failures) report.reasons.push_back(std::move(failure));

  report.run_id = result_.run_id;
  report.mode = options_.mode;
  report.scenario = {scenario_.name, scenario_.file, scenario_.sha256, scenario_.description, scenario_.runbook,
                     scenario_.tags, nlohmann::json::object()};
  report.started_at = format_rfc3339_micros(started_at_);
  report.finished_at = format_rfc3339_micros(finished_at_);
  if (evaluation.incident_at) report.incident_at = format_rfc3339_micros(*evaluation.incident_at);
  report.measured = std::move(evaluation.measured);
  report.components = std::move(evaluation.components);
  report.checks = std::move(evaluation.checks);
  report.faults = faults_->describe().get<std::vector<FaultRecord>>();
  report.steps = steps_->steps().get<std::vector<StepRecord>>();
  report.harness = HarnessTimes{
      bringup_done_at_ ? seconds_between(started_at_, bringup_done_at_) : 0.0,
      steps_done_at_ && bringup_done_at_ ? seconds_between(bringup_done_at_, steps_done_at_) : 0.0,
      teardown_started_at_ ? seconds_between(teardown_started_at_, finished_at_) : 0.0};
  report.environment = EnvironmentRecord{runtime_.name(), environment_->describe_services().get<std::vector<ServiceRecord>>(),
                                         FIREDRILL_VERSION, host, nlohmann::json::object()};
  if (scenario_.expect == "fail") report.expected = "fail";
  report.artifacts.emplace();
  for (const auto& artifact : artifact_digests(result_.run_dir, {"events.jsonl", "acks.jsonl", "readback.jsonl"}))
    report.artifacts->push_back({artifact.value("path", ""), artifact.value("sha256", "")});
  return report;
}

}  // namespace

std::string new_run_id(const Clock& clock) {
  std::time_t seconds = static_cast<std::time_t>(clock.now() / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  // 64 random bits: runs started in the same second by processes with different --out
  // directories (which share the engine's names) must not meet.
  return fmt::format("{}-{}", stamp, random_hex(8));
}

DrillResult run_drill(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, const Clock& clock) {
  // The loader derived the standbys, replicas, sentinels and Patroni members; their generated
  // passwords are this run's own.
  const Scenario this_run = with_fresh_secrets(scenario);
  Drill drill(this_run, runtime, options, clock);
  return drill.run();
}

}  // namespace firedrill
