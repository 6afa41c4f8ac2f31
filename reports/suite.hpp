#pragma once
// A suite: every drill one `firedrill run` ran (several scenarios, repetitions, in parallel or
// not), summarised beside the run directories as suite.json, summary.md and one JUnit file with a
// testsuite per scenario. Rendered from the runs' reports alone.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "checks/report.hpp"

namespace firedrill {

/// One drill of a suite. `report` is the run's report; it is absent when the drill could not
/// start at all (then `error` says why).
struct SuiteRun {
  std::string scenario;
  std::string scenario_file;
  int repetition = 1;  // 1-based, within its scenario
  std::string run_id;
  std::filesystem::path run_dir;
  int exit_code = 1;
  Micros started_at = 0;
  Micros finished_at = 0;
  std::optional<Report> report;
  std::string error;
};

struct Suite {
  Micros started_at = 0;
  Micros finished_at = 0;
  int parallel = 1;
  int exit_code = 0;  // the worst of the runs', as the command exits
  std::vector<SuiteRun> runs;  // in the order the scenarios and repetitions were given
};

/// suite.json, schema firedrill/suite/v1: start/end, totals and, per run, scenario, run id,
/// directory, verdict, exit code, measured RTO/RPO/lost writes and duration.
nlohmann::json suite_json(const Suite& suite);

/// A Markdown table for people and $GITHUB_STEP_SUMMARY (cut, saying so, at 1 MiB).
std::string render_suite_markdown(const Suite& suite);

/// One JUnit document with one testsuite per scenario; a scenario's repetitions are testcases of
/// its testsuite, named with their repetition and run id.
std::string render_suite_junit(const Suite& suite);

/// Writes out_dir/suite.json, out_dir/summary.md and the JUnit file (out_dir/junit.xml unless
/// `junit_file` names another), each atomically; appends summary.md to `step_summary` when given.
void write_suite_files(const std::filesystem::path& out_dir, const Suite& suite,
                       const std::optional<std::filesystem::path>& junit_file,
                       const std::optional<std::filesystem::path>& step_summary);

}  // namespace firedrill
