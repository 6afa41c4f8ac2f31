#include "reports/suite.hpp"

#include <fstream>
#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "reports/writers.hpp"

namespace firedrill {
namespace {

std::string verdict_of(const SuiteRun& run) {
  if (!run.report) return "error";
  return report_verdict_word(run.report->verdict);
}

template <typename T>
nlohmann::json null_or(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

/// The overall objective for "rto" or "rpo", when the run's scenario set one.
std::optional<ObjectiveResult> overall_objective(const SuiteRun& run, bool rto) {
  if (!run.report) return std::nullopt;
  auto overall = run.report->components.find("overall");
  if (overall == run.report->components.end()) return std::nullopt;
  return rto ? overall->second.rto : overall->second.rpo;
}

std::string objective_cell(const SuiteRun& run, bool rto) {
  const auto target = overall_objective(run, rto);
  if (!target) {
    if (!run.report) return format_seconds(std::optional<double>());
    return format_seconds(rto ? run.report->measured.rto_seconds : run.report->measured.rpo_seconds);
  }
  return fmt::format("{} / {} {}", format_seconds(target->measured_seconds),
                     format_seconds(std::optional<double>(target->target_seconds)), target->met ? "✅" : "❌");
}

std::optional<std::int64_t> lost_acked_writes(const SuiteRun& run) {
  return run.report ? run.report->measured.lost_acked_writes : std::nullopt;
}

std::vector<std::string> reasons_of(const SuiteRun& run) {
  std::vector<std::string> reasons;
  if (!run.error.empty()) reasons.push_back(run.error);
  if (run.report) reasons.insert(reasons.end(), run.report->reasons.begin(), run.report->reasons.end());
  return reasons;
}

}  // namespace

nlohmann::json suite_json(const Suite& suite) {
  nlohmann::json runs = nlohmann::json::array();
  int passed = 0, failed = 0, environment = 0, interrupted = 0;
  for (const auto& run : suite.runs) {
    const std::string verdict = verdict_of(run);
    if (run.exit_code == 0) ++passed;
    else if (run.exit_code == 3) ++environment;
    else if (run.exit_code == 130) ++interrupted;
    else ++failed;
    nlohmann::json entry = {
        {"scenario", run.scenario},
        {"file", run.scenario_file},
        {"repetition", run.repetition},
        {"run_id", run.run_id},
        {"dir", run.run_dir.string()},
        {"verdict", verdict},
        {"exit_code", run.exit_code},
        {"rto_seconds", run.report ? null_or(run.report->measured.rto_seconds) : nlohmann::json(nullptr)},
        {"rpo_seconds", run.report ? null_or(run.report->measured.rpo_seconds) : nlohmann::json(nullptr)},
        {"lost_acked_writes", null_or(lost_acked_writes(run))},
        {"started_at", format_rfc3339_micros(run.started_at)},
        {"finished_at", format_rfc3339_micros(run.finished_at)},
        {"duration_seconds", seconds_between(run.started_at, run.finished_at)},
        {"reasons", reasons_of(run)},
    };
    runs.push_back(std::move(entry));
  }
  return {
      {"schema", "firedrill/suite/v1"},
      {"verdict", suite.exit_code == 0 ? "pass" : "fail"},
      {"exit_code", suite.exit_code},
      {"parallel", suite.parallel},
      {"started_at", format_rfc3339_micros(suite.started_at)},
      {"finished_at", format_rfc3339_micros(suite.finished_at)},
      {"duration_seconds", seconds_between(suite.started_at, suite.finished_at)},
      {"totals",
       {{"runs", suite.runs.size()},
        {"passed", passed},
        {"failed", failed},
        {"environment_errors", environment},
        {"interrupted", interrupted}}},
      {"runs", runs},
  };
}

std::string render_suite_markdown(const Suite& suite) {
  const auto summary = suite_json(suite);
  const auto& totals = summary["totals"];
  const bool passed = suite.exit_code == 0;
  std::string text = fmt::format("### {} firedrill suite — {} ({} drills: {} passed, {} failed{}{})\n\n",
                                 passed ? "✅" : "❌", passed ? "PASS" : "FAIL", totals["runs"].get<int>(),
                                 totals["passed"].get<int>(), totals["failed"].get<int>(),
                                 totals["environment_errors"].get<int>() > 0
                                     ? fmt::format(", {} environment errors", totals["environment_errors"].get<int>())
                                     : "",
                                 totals["interrupted"].get<int>() > 0
                                     ? fmt::format(", {} interrupted", totals["interrupted"].get<int>())
                                     : "");
  text += "| scenario | run | verdict | RTO measured / target | RPO measured / target | lost acked writes | duration |\n";
  text += "|---|---|---|---|---|---|---|\n";
  std::map<std::string, int> runs_of_scenario;
  for (const auto& run : suite.runs) ++runs_of_scenario[run.scenario];
  for (const auto& run : suite.runs) {
    const std::string verdict = verdict_of(run);
    text += fmt::format("| {}{} | {} | {} | {} | {} | {} | {:.1f}s |\n", markdown_cell(run.scenario),
                        runs_of_scenario[run.scenario] > 1 ? fmt::format(" #{}", run.repetition) : "",
                        run.run_id.empty() ? "–" : "`" + run.run_id + "`",
                        verdict == "pass" && run.exit_code == 0 ? "✅ pass"
                        : run.exit_code == 0                    ? fmt::format("✅ {} (expected)", verdict)
                                                                : fmt::format("❌ {} (exit {})", verdict, run.exit_code),
                        objective_cell(run, true), objective_cell(run, false), format_count(lost_acked_writes(run)),
                        seconds_between(run.started_at, run.finished_at));
  }
  bool any_reason = false;
  for (const auto& run : suite.runs) {
    if (run.exit_code == 0) continue;
    for (const auto& reason : reasons_of(run)) {
      if (!any_reason) text += "\nWhy drills failed:\n\n";
      any_reason = true;
      text += fmt::format("- `{}` {}: {}\n", run.run_id.empty() ? run.scenario : run.run_id, markdown_cell(run.scenario),
                          markdown_cell(reason));
    }
  }
  text += fmt::format("\n{} drills{} from {} to {} ({:.1f}s). Each run's directory holds its report, timeline and "
                      "attestation.\n",
                      suite.runs.size(), suite.parallel > 1 ? fmt::format(", up to {} at once,", suite.parallel) : "",
                      summary["started_at"].get<std::string>(), summary["finished_at"].get<std::string>(),
                      summary["duration_seconds"].get<double>());
  // $GITHUB_STEP_SUMMARY refuses more than 1 MiB; a summary that long is cut, saying so.
  constexpr std::size_t step_summary_limit = 1 << 20;
  const std::string cut_note = "\n\n*(summary cut at 1 MiB; suite.json has everything)*\n";
  if (text.size() > step_summary_limit) text = text.substr(0, step_summary_limit - cut_note.size()) + cut_note;
  return text;
}

std::string render_suite_junit(const Suite& suite) {
  // Scenarios in the order they first appear; a scenario's runs in their order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const SuiteRun*>> by_scenario;
  for (const auto& run : suite.runs) {
    auto& runs = by_scenario[run.scenario];
    if (runs.empty()) order.push_back(run.scenario);
    runs.push_back(&run);
  }
  std::string text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n";
  for (const auto& scenario : order) {
    const auto& runs = by_scenario.at(scenario);
    const bool repeated = runs.size() > 1;
    std::string cases;
    int tests = 0, failures = 0, errors = 0;
    double time = 0;
    for (const SuiteRun* run : runs) {
      time += seconds_between(run->started_at, run->finished_at);
      const std::string suffix = repeated ? fmt::format(" #{}", run->repetition) : "";
      if (!run->report) {
        ++tests;
        ++errors;
        cases += fmt::format("    <testcase classname=\"{}\" name=\"{}\">\n      <error message=\"{}\"/>\n    </testcase>\n",
                             xml_escape(scenario), xml_escape("drill completed" + suffix),
                             xml_escape(run->error.empty() ? "the drill produced no report" : run->error));
        continue;
      }
      // The testcases of the run's own junit.xml, each message naming the run; a drill expected to
      // fail passes by failing, which its exit code says.
      const JunitCases run_cases = junit_testcases(*run->report, scenario, run->exit_code != 0,
                                                   fmt::format("run {}: ", run->run_id), suffix);
      cases += run_cases.xml;
      tests += run_cases.tests;
      failures += run_cases.failures;
    }
    text += fmt::format("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{:.3f}\" timestamp=\"{}\">\n",
                        xml_escape(scenario), tests, failures, errors, time,
                        xml_escape(format_rfc3339_micros(runs.front()->started_at)));
    text += cases;
    text += "  </testsuite>\n";
  }
  text += "</testsuites>\n";
  return text;
}

void write_suite_files(const std::filesystem::path& out_dir, const Suite& suite,
                       const std::optional<std::filesystem::path>& junit_file,
                       const std::optional<std::filesystem::path>& step_summary) {
  std::filesystem::create_directories(out_dir);
  write_file_atomically(out_dir / "suite.json", suite_json(suite).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  const std::string markdown = render_suite_markdown(suite);
  write_file_atomically(out_dir / "summary.md", markdown);
  write_file_atomically(junit_file.value_or(out_dir / "junit.xml"), render_suite_junit(suite));
  if (step_summary) {
    std::ofstream summary(*step_summary, std::ios::app);
    summary << markdown << "\n";
    if (!summary) throw std::runtime_error(fmt::format("cannot append to {}", step_summary->string()));
  }
}

}  // namespace firedrill
