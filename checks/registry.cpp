#include "checks/registry.hpp"

#include <fmt/format.h>

namespace firedrill {
namespace {

std::string seconds_text(double seconds) { return fmt::format("{:.3f}s", seconds); }

/// rto / rpo: the evaluation's judgement of the subject's target (judge_objective).
CheckEntry objective_check(const std::string& word) {
  bool is_rto = word == "rto";
  VerbSpec spec{word,
                is_rto ? "Measured recovery time of the subject is within its target (targets.<subject>.rto)."
                       : "Measured data-loss window of the subject is within its target (targets.<subject>.rpo).",
                true,
                {}};
  auto evaluate = [word](const CheckSpec& check, const CheckInput& input) {
    const std::string name = fmt::format("{}({})", word, check.subject);
    auto judged = input.objectives.find(name);
    if (judged != input.objectives.end()) return judged->second;
    return CheckOutcome{name, Verdict::fail, fmt::format("targets.{}.{} is not set", check.subject, word)};
  };
  return {spec, evaluate};
}

}  // namespace

CheckOutcome judge_objective(const std::string& word, const std::string& component, const std::optional<double>& measured,
                             const std::string& why_unknown, Duration target) {
  CheckOutcome result{fmt::format("{}({})", word, component), Verdict::fail, ""};
  if (!measured) {
    result.verdict = Verdict::unknown;
    result.detail = fmt::format("not measured: {}", why_unknown);
    return result;
  }
  const double limit_seconds = static_cast<double>(target.count()) / 1e6;
  result.verdict = *measured <= limit_seconds ? Verdict::pass : Verdict::fail;
  result.detail = fmt::format("measured {} {} target {}", seconds_text(*measured), result.passed() ? "<=" : ">",
                              seconds_text(limit_seconds));
  return result;
}

namespace {

CheckEntry lost_writes_check() {
  VerbSpec spec{"lost_acked_writes",
                "Acknowledged writes missing after recovery are at most `max` (default 0).",
                true,
                {{"max", ParamType::integer, false, "largest acceptable number of lost acknowledged writes"}}};
  auto evaluate = [](const CheckSpec& check, const CheckInput& input) {
    CheckOutcome result{fmt::format("lost_acked_writes({})", check.subject), Verdict::fail, ""};
    long long max = 0;
    if (auto configured = check.params.find("max"); configured != check.params.end()) max = std::stoll(configured->second.text);
    auto loss = input.loss.find(check.subject);
    if (loss == input.loss.end() || !loss->second.readback_available) {
      // A read-back that ran and failed is a data check failed, with its reason; no read-back at
      // all (nothing was written) leaves it undecided.
      const bool failed = loss != input.loss.end() && !loss->second.readback_error.empty();
      result.verdict = failed ? Verdict::fail : Verdict::unknown;
      result.detail = failed ? fmt::format("lost writes unknown: {}", loss->second.readback_error)
                             : "not measured: the writes could not be read back";
      return result;
    }
    const auto& measure = loss->second;
    result.verdict = measure.lost_acked <= max ? Verdict::pass : Verdict::fail;
    result.detail = fmt::format("{} of {} acknowledged writes lost (max {}){}", measure.lost_acked, measure.acked, max,
                                measure.lost_acked_after_incident > 0
                                    ? fmt::format(", {} of them acknowledged after the incident", measure.lost_acked_after_incident)
                                    : "");
    if (!measure.lost_sample.empty()) result.detail += fmt::format("; e.g. {}", measure.lost_sample.front());
    return result;
  };
  return {spec, evaluate};
}

/// backup_valid: the last verify-backup step about the subject succeeded. Read from the recorded
/// step outcomes, so a verification that failed (and stopped the drill) still decides the check.
CheckEntry backup_valid_check() {
  VerbSpec spec{"backup_valid",
                "The last verify-backup step about the subject succeeded (its backup restored and checked out).",
                true,
                {}};
  auto evaluate = [](const CheckSpec& check, const CheckInput& input) {
    CheckOutcome result{fmt::format("backup_valid({})", check.subject), Verdict::fail, ""};
    const Event* last = nullptr;
    for (const Event& event : input.events)
      if (event.kind == event_kind::step_finished && event.details.value("verb", "") == "action" &&
          event.details.value("what", "") == "verify-backup" && event.details.value("target", "") == check.subject)
        last = &event;
    if (last == nullptr) {
      result.verdict = Verdict::unknown;
      result.detail = fmt::format("not verified: no verify-backup step about '{}' ran", check.subject);
      return result;
    }
    const std::string step = last->details.value("step", "");
    const std::string outcome = last->details.value("outcome", "");
    result.verdict = outcome == "ok" ? Verdict::pass : outcome == "failed" ? Verdict::fail : Verdict::unknown;
    if (result.passed())
      result.detail = fmt::format("step '{}' verified the backup", step);
    else if (outcome == "failed")
      result.detail = fmt::format("step '{}' failed: {}", step, last->details.value("error", ""));
    else
      result.detail = fmt::format("not verified: step '{}' ended {}", step, outcome);
    return result;
  };
  return {spec, evaluate};
}

std::map<std::string, CheckEntry> build_registry() {
  std::map<std::string, CheckEntry> registry;
  for (auto entry : {objective_check("rto"), objective_check("rpo"), lost_writes_check(), integrity_check(),
                      backup_valid_check(), latency_check()}) {
    std::string word = entry.spec.name;
    register_unique(registry, word, std::move(entry), "check");
  }
  return registry;
}

}  // namespace

const std::map<std::string, CheckEntry>& check_registry() {
  static const std::map<std::string, CheckEntry> registry = build_registry();
  return registry;
}

std::vector<GatherRequest> gatherings_of(const Scenario& scenario) {
  std::vector<GatherRequest> requests;
  for (const auto& check : scenario.checks) {
    auto entry = check_registry().find(check.kind);
    if (entry == check_registry().end() || !entry->second.gather) continue;
    for (auto& gathering : entry->second.gather(check)) requests.push_back({check.subject, std::move(gathering)});
  }
  return requests;
}

std::string gathered_event_kind(const Gathering& gathering) { return "check." + gathering.language; }

std::map<std::string, VerbSpec> check_specs() {
  std::map<std::string, VerbSpec> specs;
  for (const auto& [name, entry] : check_registry()) specs.emplace(name, entry.spec);
  return specs;
}

}  // namespace firedrill
