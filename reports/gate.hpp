#pragma once
// Release gating on recovery benchmarks: the distribution of each scenario's measured RTO, RPO
// and lost writes over repeated drills, judged against the drills' own verdicts and, with a
// baseline, against earlier distributions with a tolerance. Pure functions of report.json files.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/report.hpp"

namespace firedrill {

/// min, median, p95 (nearest rank) and max of a sample; absent when the sample is empty.
struct Distribution {
  std::size_t count = 0;
  double min = 0, median = 0, p95 = 0, max = 0;
};
std::optional<Distribution> distribution_of(std::vector<double> values);

/// One scenario's figures over the reports given.
struct ScenarioFigures {
  std::size_t drills = 0, failed = 0;
  std::vector<std::string> failures;  // "run <id>: <reason>"
  std::map<std::string, Distribution> metrics;  // rto_seconds, rpo_seconds, lost_acked_writes
};

/// Groups reports by scenario name and computes their figures.
std::map<std::string, ScenarioFigures> figures_of(const std::vector<Report>& reports);

/// The baseline file: {"schema": "firedrill/gate-baseline/v1", "scenarios": {name: {metric: {count, min, median, p95, max}}}}.
nlohmann::json baseline_of(const std::map<std::string, ScenarioFigures>& figures);

struct GateRow {
  std::string scenario, metric, statistic;  // statistic: median | p95
  double baseline = 0, current = 0;
  bool regressed = false;
};

struct GateVerdict {
  bool passed = true;
  std::vector<std::string> reasons;
  std::vector<GateRow> rows;  // every compared figure, regressed or not
};

/// Fails when any drill failed, or — with a baseline — when a median or p95 grew by more than
/// `tolerance` (0.2 = 20 %) over the baseline's. A scenario absent from the baseline is not
/// compared. Growth from a baseline of 0 counts only above `absolute_slack` (e.g. 1 ms of RTO).
GateVerdict judge(const std::map<std::string, ScenarioFigures>& figures, const std::optional<nlohmann::json>& baseline,
                  double tolerance, double absolute_slack = 0.001);

/// Parses "20%", "20 %" or "0.2". Throws std::invalid_argument.
double parse_tolerance(const std::string& text);

}  // namespace firedrill
