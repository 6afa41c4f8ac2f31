// The `latency` check: how long the subject's acknowledged writes took while faults were in force
// (or over the whole run), at the percentiles the check bounds. A fault that degrades rather than
// breaks (a slow disk, a slow link) is judged here, not by the RTO.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "checks/evaluate.hpp"
#include "checks/registry.hpp"
#include "core/duration.hpp"

namespace firedrill {
namespace {

/// The bounds a latency check may give, in the order a detail names them.
constexpr const char* bounds[] = {"p50", "p90", "p99", "max"};

std::string during_of(const Params& params) {
  auto found = params.find("during");
  return found == params.end() ? "faults" : found->second.text;
}

void check_combination(const StepSpec& check) {
  const std::string during = during_of(check.params);
  if (during != "faults" && during != "all")
    throw std::invalid_argument(fmt::format("latency 'during' must be faults or all, not '{}'", during));
  if (std::none_of(std::begin(bounds), std::end(bounds), [&check](const char* bound) { return check.params.count(bound) > 0; }))
    throw std::invalid_argument("a latency check bounds at least one of p50, p90, p99, max (like p99: 500ms)");
}

std::optional<double> percentile_of(const WriteStats& stats, const std::string& bound) {
  if (bound == "p50") return stats.p50_latency_ms;
  if (bound == "p90") return stats.p90_latency_ms;
  if (bound == "p99") return stats.p99_latency_ms;
  return stats.max_latency_ms;
}

CheckOutcome judge_latency(const CheckSpec& check, const CheckInput& input) {
  CheckOutcome result{fmt::format("latency({})", check.subject), Verdict::fail, ""};
  const std::string during = during_of(check.params);
  const ComponentScope scope = scope_of(input.scenario, check.subject);
  std::vector<Ack> writes;
  for (const Ack& ack : input.acks)
    if (check.subject == "overall" || std::find(scope.writers.begin(), scope.writers.end(), ack.writer) != scope.writers.end())
      writes.push_back(ack);
  if (writes.empty()) {
    result.verdict = Verdict::unknown;
    result.detail = fmt::format("not measured: no writes of '{}' were recorded", check.subject);
    return result;
  }
  Micros first = writes.front().sent, last = writes.front().sent;
  for (const Ack& ack : writes) {
    first = std::min(first, ack.sent);
    last = std::max(last, ack.sent + 1);
  }
  if (during == "faults") {
    const auto windows = fault_windows(input.events, last);
    if (windows.empty()) {
      result.verdict = Verdict::unknown;
      result.detail = "not measured: no fault was in force";
      return result;
    }
    std::erase_if(writes, [&windows](const Ack& ack) {
      return std::none_of(windows.begin(), windows.end(),
                          [&ack](const FaultWindow& window) { return ack.sent >= window.from && ack.sent < window.to; });
    });
  }
  const WriteStats stats = write_stats(writes, first, last);
  if (stats.ok == 0) {
    result.verdict = Verdict::unknown;
    result.detail = fmt::format("not measured: no write of '{}' {}was acknowledged", check.subject,
                                during == "faults" ? "sent while a fault was in force " : "");
    return result;
  }
  std::vector<std::string> judged;
  result.verdict = Verdict::pass;
  for (const char* bound : bounds) {
    auto limit = check.params.find(bound);
    if (limit == check.params.end() || !limit->second.duration) continue;
    const double limit_ms = static_cast<double>(limit->second.duration->count()) / 1e3;
    const double measured_ms = percentile_of(stats, bound).value_or(0);
    const bool within = measured_ms <= limit_ms;
    if (!within) result.verdict = Verdict::fail;
    judged.push_back(fmt::format("{} {:.1f} ms {} {}", bound, measured_ms, within ? "<=" : ">",
                                 format_duration(*limit->second.duration)));
  }
  result.detail = fmt::format("{} over {} acknowledged writes{}", fmt::join(judged, ", "), stats.ok,
                              during == "faults" ? " sent while faults were in force" : "");
  return result;
}

}  // namespace

CheckEntry latency_check() {
  VerbSpec spec{"latency",
                "The subject's acknowledged writes took at most each bound given (p50, p90, p99, max), over the writes "
                "sent while faults were in force (`during: faults`, the default) or over all of them (`during: all`).",
                true,
                {{"p50", ParamType::duration, false, "bound on the median write latency (like 50ms)"},
                 {"p90", ParamType::duration, false, "bound on the 90th percentile"},
                 {"p99", ParamType::duration, false, "bound on the 99th percentile (like 500ms)"},
                 {"max", ParamType::duration, false, "bound on the slowest write"},
                 {"during", ParamType::string, false, "faults | all (default faults)"}},
                check_combination};
  return {spec, judge_latency};
}

}  // namespace firedrill
