#include "harness/engine/step_runner.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "clients/scalar_query.hpp"
#include "core/interrupt.hpp"
#include "harness/actions/action.hpp"
#include "harness/rehearse/commands.hpp"
#include "harness/rehearse/operator.hpp"

namespace firedrill {
namespace {

constexpr auto interrupt_poll = std::chrono::milliseconds(10);

std::vector<std::string> service_names_of(const Scenario& scenario) {
  std::vector<std::string> names;
  for (const auto& service : scenario.services) names.push_back(service.name);
  return names;
}

const char* verb_name(StepVerb verb) {
  switch (verb) {
    case StepVerb::wait: return "wait";
    case StepVerb::fault: return "fault";
    case StepVerb::action: return "action";
    case StepVerb::await: return "await";
    case StepVerb::manual: return "manual";
  }
  return "wait";
}

}  // namespace

StepRunner::StepRunner(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, RunRecords& records,
                       Environment& environment, FaultLedger& faults, Observers& observers)
    : scenario_(scenario),
      runtime_(runtime),
      options_(options),
      records_(records),
      environment_(environment),
      faults_(faults),
      observers_(observers) {}

bool StepRunner::run_steps() {
  for (std::size_t i = 0; i < scenario_.steps.size(); ++i) {
    if (interrupted()) return false;
    if (!run_step(i, scenario_.steps[i])) {
      for (std::size_t rest = i + 1; rest < scenario_.steps.size(); ++rest)
        steps_.push_back({{"name", scenario_.steps[rest].name}, {"verb", verb_name(scenario_.steps[rest].verb)},
                          {"outcome", "not run"}});
      return false;
    }
  }
  // Keep observing for one stability window, so the write recovery can be judged on a full one.
  if (scenario_.steps.empty()) return true;
  return sleep_interruptibly(records_.clock.now() + tail_duration().count());
}

Duration StepRunner::tail_duration() const {
  Duration tail = std::chrono::seconds(1);
  for (const auto& step : scenario_.steps)
    if (step.verb == StepVerb::await && step.stable) tail = std::max(tail, *step.stable);
  return tail;
}

bool StepRunner::run_step(std::size_t index, const StepSpec& step) {
  Micros started = records_.events.record(event_kind::step_started,
                                   {{"step", step.name}, {"index", index}, {"verb", verb_name(step.verb)}});
  records_.progress.step(index, step);
  std::string outcome = "ok";
  std::string error;
  nlohmann::json details = nlohmann::json::object();
  nlohmann::json human;  // how a person did the step, in a rehearsal
  try {
    switch (step.verb) {
      case StepVerb::wait:
        if (!sleep_interruptibly(started + step.duration.value_or(Duration{0}).count())) outcome = "interrupted";
        break;
      case StepVerb::fault:
        faults_.apply(step);
        break;
      case StepVerb::action:
        if (options_.human && !step.manual.empty() && !options_.auto_actions) {
          human = perform_by_hand(index, step, outcome);
          if (human.value("completed_by", "") != "firedrill") break;
        }
        details = run_action(step, started);
        break;
      case StepVerb::await:
        if (!observers_.await_recovered(step, error)) outcome = interrupted() ? "interrupted" : "failed";
        break;
      case StepVerb::manual:
        if (options_.human) {
          human = perform_by_hand(index, step, outcome);
          break;
        }
        // Manual steps are timed in `firedrill rehearse`; an unattended run records and skips them.
        outcome = "skipped";
        details = {{"instruction", step.what}};
        break;
    }
  } catch (const EnvironmentError&) {
    throw;
  } catch (const std::exception& failure) {
    outcome = "failed";
    error = records_.secrets.scrub(failure.what());
  }
  Micros finished = records_.events.record(event_kind::step_finished,
                                    {{"step", step.name}, {"index", index}, {"verb", verb_name(step.verb)},
                                     {"what", step.what}, {"target", step.target}, {"outcome", outcome}, {"error", error}});
  nlohmann::json record = {{"name", step.name},
                           {"verb", verb_name(step.verb)},
                           {"what", step.what},
                           {"target", step.target},
                           {"started_at", format_rfc3339_micros(started)},
                           {"finished_at", format_rfc3339_micros(finished)},
                           {"duration_seconds", seconds_between(started, finished)},
                           {"outcome", outcome}};
  if (!error.empty()) record["error"] = error;
  if (!details.empty()) record["details"] = details;
  if (!human.is_null()) {
    human["seconds"] = seconds_between(started, finished);
    if (step.budget) human["over_budget"] = finished - started > step.budget->count();
    record["human"] = human;
  }
  steps_.push_back(record);
  records_.progress.step_done(index, step, outcome, error);
  if (outcome == "failed") records_.failures.push_back(fmt::format("step '{}' failed: {}", step.name, error));
  return outcome == "ok" || outcome == "skipped";
}

nlohmann::json StepRunner::run_action(const StepSpec& step, Micros started) {
  ActionContext context{runtime_,
                        records_.events,
                        records_.clock,
                        records_.run_dir,
                        [this](const std::string& name) { return environment_.find_service(name); },
                        service_names_of(scenario_),
                        [this](const std::string& name) { environment_.rebuild_service(name); }};
  context.journal_create = [this](const std::string& kind, const std::string& name) {
    records_.journal.record_create(kind, name);
  };
  context.manifest_key_file = state_directory() / "backup-manifest.key";
  context.repoint_proxies = [this](const std::string& name, const std::string& to) {
    return environment_.repoint_proxies(name, to);
  };
  nlohmann::json details = action_registry().at(step.what).make()->run(context, step);
  // Only a destructive action (sql) may be the incident: T0 is when its step started.
  if (step.incident)
    records_.events.record_at(started, event_kind::incident,
                              {{"step", step.name}, {"action", step.what}, {"target", step.target}});
  return details;
}

nlohmann::json StepRunner::perform_by_hand(std::size_t index, const StepSpec& step, std::string& outcome) {
  const std::vector<ServiceAccess> access = environment_.access();
  // psql and redis-cli on the host read the passwords from here; the rehearsal command removes
  // these files at the end.
  const auto pgpass = std::filesystem::absolute(records_.run_dir / "rehearsal.pgpass");
  if (!std::filesystem::exists(pgpass)) write_pgpass(pgpass, access);
  HumanTask task = describe_human_step(step, index, scenario_.steps.size(), runtime_.name(), access, pgpass);
  if (step.until && !step.until->healthy.empty()) {
    task.condition = [this, probes = observers_.probes_of(step.until->healthy)] { return !probes.empty() && observers_.all_up(probes); };
  } else if (step.until) {
    auto found = std::find_if(access.begin(), access.end(), [&](const ServiceAccess& a) { return a.name == step.until->service; });
    task.condition = [conninfo = found == access.end() ? std::string() : found->conninfo, sql = step.until->sql] {
      auto answer = run_scalar_query(conninfo, sql);
      return answer.value && sql_value_is_true(*answer.value);
    };
  }
  const HumanVerdict verdict = options_.human->perform(task);
  if (verdict == HumanVerdict::skipped) outcome = "skipped";
  if (verdict == HumanVerdict::aborted) outcome = "interrupted";
  nlohmann::json human = {{"instruction", task.instruction}, {"completed_by", verdict_word(verdict)}};
  if (step.budget) human["budget_seconds"] = static_cast<double>(step.budget->count()) / 1e6;
  if (step.until) human["until"] = task.until;
  return human;
}

bool StepRunner::sleep_interruptibly(Micros until) {
  while (records_.clock.now() < until) {
    if (interrupted()) return false;
    Micros slice = std::min<Micros>(until, records_.clock.now() + std::chrono::microseconds(interrupt_poll).count());
    records_.clock.sleep_until(slice);
  }
  return !interrupted();
}

}  // namespace firedrill
