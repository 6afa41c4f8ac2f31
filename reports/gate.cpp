#include "reports/gate.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {
namespace {

nlohmann::json to_json(const Distribution& d) {
  return {{"count", d.count}, {"min", d.min}, {"median", d.median}, {"p95", d.p95}, {"max", d.max}};
}

}  // namespace

std::optional<Distribution> distribution_of(std::vector<double> values) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  auto nearest_rank = [&](double p) {
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
    return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
  };
  Distribution d;
  d.count = values.size();
  d.min = values.front();
  d.max = values.back();
  d.median = values.size() % 2 ? values[values.size() / 2] : (values[values.size() / 2 - 1] + values[values.size() / 2]) / 2;
  d.p95 = nearest_rank(0.95);
  return d;
}

std::map<std::string, ScenarioFigures> figures_of(const std::vector<Report>& reports) {
  std::map<std::string, std::map<std::string, std::vector<double>>> samples;
  std::map<std::string, ScenarioFigures> figures;
  for (const auto& report : reports) {
    const std::string& scenario = report.scenario.name;
    auto& entry = figures[scenario];
    ++entry.drills;
    // A drill expected to fail (`expect: fail`) holds the gate by failing, not by passing.
    const bool expected_to_fail = report.expects_failure();
    if (report.passed() == expected_to_fail) {
      ++entry.failed;
      std::string why = expected_to_fail ? "passed, but it was expected to fail (the fault did not take effect)" : "failed";
      if (!expected_to_fail && !report.reasons.empty()) why = report.reasons.front();
      entry.failures.push_back(fmt::format("run {}: {}", report.run_id.empty() ? "?" : report.run_id, why));
    }
    const Measured& measured = report.measured;
    if (measured.rto_seconds) samples[scenario]["rto_seconds"].push_back(*measured.rto_seconds);
    if (measured.rpo_seconds) samples[scenario]["rpo_seconds"].push_back(*measured.rpo_seconds);
    if (measured.lost_acked_writes)
      samples[scenario]["lost_acked_writes"].push_back(static_cast<double>(*measured.lost_acked_writes));
  }
  for (auto& [scenario, by_metric] : samples)
    for (auto& [metric, values] : by_metric)
      if (auto d = distribution_of(values)) figures[scenario].metrics[metric] = *d;
  return figures;
}

nlohmann::json baseline_of(const std::map<std::string, ScenarioFigures>& figures) {
  nlohmann::json scenarios = nlohmann::json::object();
  for (const auto& [scenario, entry] : figures)
    for (const auto& [metric, d] : entry.metrics) scenarios[scenario][metric] = to_json(d);
  return {{"schema", "firedrill/gate-baseline/v1"}, {"scenarios", scenarios}};
}

GateVerdict judge(const std::map<std::string, ScenarioFigures>& figures, const std::optional<nlohmann::json>& baseline,
                  double tolerance, double absolute_slack) {
  GateVerdict verdict;
  for (const auto& [scenario, entry] : figures)
    for (const auto& failure : entry.failures) verdict.reasons.push_back(fmt::format("{}: {}", scenario, failure));
  if (baseline) {
    const auto& known = baseline->value("scenarios", nlohmann::json::object());
    for (const auto& [scenario, entry] : figures) {
      if (!known.contains(scenario)) continue;
      for (const auto& [metric, current] : entry.metrics) {
        if (!known[scenario].contains(metric)) continue;
        const auto& before = known[scenario][metric];
        for (const char* statistic : {"median", "p95"}) {
          double was = before.value(statistic, 0.0);
          double now = std::string(statistic) == "median" ? current.median : current.p95;
          bool regressed = now > was * (1 + tolerance) && now - was > absolute_slack;
          verdict.rows.push_back({scenario, metric, statistic, was, now, regressed});
          if (regressed)
            verdict.reasons.push_back(fmt::format("{}: {} {} regressed from {:.3f} to {:.3f} (+{:.0f}%, tolerance {:.0f}%)",
                                                  scenario, metric, statistic, was, now,
                                                  was > 0 ? (now / was - 1) * 100 : 100.0, tolerance * 100));
        }
      }
    }
  }
  verdict.passed = verdict.reasons.empty();
  return verdict;
}

double parse_tolerance(const std::string& text) {
  std::string digits;
  for (char c : text)
    if (c != ' ') digits += c;
  bool percent = !digits.empty() && digits.back() == '%';
  if (percent) digits.pop_back();
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(digits, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != digits.size() || value < 0 || !std::isfinite(value))
    throw std::invalid_argument(fmt::format("tolerance '{}' is not like 20% or 0.2", text));
  return percent ? value / 100 : value;
}

}  // namespace firedrill
