#include "harness/engine/fault_ledger.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/interrupt.hpp"
#include "injectors/registry.hpp"

namespace firedrill {

FaultLedger::FaultLedger(Runtime& runtime, RunRecords& records, Environment& environment)
    : runtime_(runtime),
      records_(records),
      environment_(environment),
      context_{runtime,
               records.events,
               [this](const nlohmann::json& inverse) { return records_.journal.record_inverse(inverse); },
               [this](const std::string& id) { records_.journal.mark_reverted(id); },
               records.run_dir,
               [this](const std::string& client, const std::string& peer) {
                 return environment_.proxy_between(client, peer);
               },
               [this] { return environment_.proxied_paths(); }} {}

FaultLedger::~FaultLedger() { cancel_timers(); }

void FaultLedger::cancel_timers() {
  for (auto& applied : faults_) applied->timer_cancelled = true;
  for (auto& applied : faults_)
    if (applied->timer.joinable()) applied->timer.join();
}

void FaultLedger::apply(const StepSpec& step) {
  auto injector = fault_registry().at(step.what).make();
  if (const auto* ender = dynamic_cast<const EndsFaults*>(injector.get())) {
    end_faults(step, ender->fault_types());
    return;
  }
  inject(step, *injector);
}

void FaultLedger::inject(const StepSpec& step, Injector& injector) {
  // A fault aimed at a cluster hits the member leading it now (patroni.hpp).
  StepSpec aimed = step;
  if (const Service* service = environment_.find_service(step.target)) aimed.target = service->fault_target(runtime_);
  auto applied = std::make_unique<AppliedFault>();
  applied->type = step.what;
  applied->target = step.target.empty() ? services_named_in(step) : aimed.target;
  applied->aimed_at = step.target;
  applied->step = step.name;
  applied->incident = step.incident;
  Micros requested_at = records_.clock.now();
  applied->fault = injector.inject(context_, aimed);
  Micros returned_at = records_.clock.now();
  applied->injected_at = injector.takes_effect() == TakesEffect::when_requested ? requested_at : returned_at;
  records_.events.record_at(applied->injected_at, event_kind::fault_injected,
                     {{"fault", step.what},
                      {"target", aimed.target},
                      {"aimed_at", step.target},
                      {"step", step.name},
                      {"incident", step.incident},
                      {"requested_at", format_rfc3339_micros(requested_at)},
                      {"returned_at", format_rfc3339_micros(returned_at)},
                      {"details", applied->fault->describe()}});
  if (step.incident)
    records_.events.record_at(applied->injected_at, event_kind::incident,
                       {{"step", step.name},
                        {"fault", step.what},
                        {"target", step.target},
                        {"requested_at", format_rfc3339_micros(requested_at)}});
  if (auto after = injector.revert_after(step)) {
    Micros deadline = applied->injected_at + after->count();
    AppliedFault* raw = applied.get();
    applied->timer = std::thread([this, raw, deadline] {
      // Sleeps in slices so an interrupt is seen, then exactly to the deadline.
      while (records_.clock.now() < deadline && !interrupted() && !raw->timer_cancelled)
        records_.clock.sleep_until(std::min<Micros>(deadline, records_.clock.now() + 10'000));
      if (interrupted() || raw->timer_cancelled) return;
      try {
        revert(*raw);
      } catch (const std::exception& error) {
        records_.events.record("fault.revert_failed", {{"fault", raw->type}, {"target", raw->target}, {"error", error.what()}});
      }
    });
  }
  faults_.push_back(std::move(applied));
}

void FaultLedger::revert(AppliedFault& applied) {
  std::lock_guard lock(applied.mutex);
  if (applied.reverted_at) return;
  // Stamped like the injection: when it was asked for and when the runtime said it was done.
  const Micros requested_at = records_.clock.now();
  applied.fault->revert();
  const Micros returned_at = records_.clock.now();
  applied.reverted_at = returned_at;
  records_.events.record_at(returned_at, event_kind::fault_reverted,
                     {{"fault", applied.type}, {"target", applied.target}, {"step", applied.step},
                      {"requested_at", format_rfc3339_micros(requested_at)},
                      {"returned_at", format_rfc3339_micros(returned_at)}});
}

void FaultLedger::end_faults(const StepSpec& step, const std::vector<std::string>& types) {
  int ended = 0;
  for (auto it = faults_.rbegin(); it != faults_.rend(); ++it) {
    AppliedFault& applied = **it;
    if (std::find(types.begin(), types.end(), applied.type) == types.end()) continue;
    if (!step.target.empty()) {
      // A fault between services has them all as its target, comma-separated.
      std::string targets = "," + applied.target + ",";
      if (targets.find("," + step.target + ",") == std::string::npos && applied.aimed_at != step.target) continue;
    }
    {
      std::lock_guard lock(applied.mutex);
      if (applied.reverted_at) continue;
    }
    revert(applied);
    ++ended;
  }
  if (ended == 0)
    throw std::runtime_error(fmt::format("no {} is active{} to end", fmt::join(types, " or "),
                                         step.target.empty() ? "" : " on '" + step.target + "'"));
}

std::string FaultLedger::services_named_in(const StepSpec& step) const {
  // A fault between services (partition's isolate/between) names them in its parameters.
  std::vector<std::string> named;
  for (const auto& [key, value] : step.params) {
    for (const auto& item : value.is_list ? value.items : std::vector<std::string>{value.text})
      if (environment_.find_service(item) && std::find(named.begin(), named.end(), item) == named.end()) named.push_back(item);
  }
  return fmt::format("{}", fmt::join(named, ","));
}

void FaultLedger::revert_all() {
  // The steps are over: a fault whose duration has not run out yet ends now, with the others.
  cancel_timers();
  for (auto it = faults_.rbegin(); it != faults_.rend(); ++it) {
    try {
      revert(**it);
    } catch (const std::exception& error) {
      records_.failures.push_back(fmt::format("could not revert fault '{}' on '{}': {}", (*it)->type, (*it)->target, error.what()));
    }
  }
}

nlohmann::json FaultLedger::describe() const {
  nlohmann::json faults = nlohmann::json::array();
  for (const auto& applied : faults_) {
    nlohmann::json fault = {{"type", applied->type},
                            {"target", applied->target},
                            {"step", applied->step},
                            {"incident", applied->incident},
                            {"injected_at", format_rfc3339_micros(applied->injected_at)},
                            {"reverted_at", applied->reverted_at ? nlohmann::json(format_rfc3339_micros(*applied->reverted_at))
                                                                 : nlohmann::json(nullptr)},
                            {"details", applied->fault->describe()}};
    faults.push_back(fault);
  }
  return faults;
}

}  // namespace firedrill
