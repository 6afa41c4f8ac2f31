#pragma once
// The files a person or CI reads, each rendered from report.json alone (so a saved run can be
// re-rendered). One writer per format, one registry.
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace firedrill {

struct ReportWriter {
  std::string file_name;
  std::function<std::string(const nlohmann::json& report)> render;
};

/// Every writer by format name (json, markdown, junit, openmetrics); a duplicate aborts.
const std::map<std::string, ReportWriter>& report_writers();

/// Writes every registered format into run_dir, each atomically (a temporary file renamed over
/// the old one), so a reader — node_exporter's textfile collector, a CI step — never sees half.
void write_report_files(const std::filesystem::path& run_dir, const nlohmann::json& report);
void write_file_atomically(const std::filesystem::path& file, const std::string& content);

/// The junit.xml a run writes when it starts: well-formed and failing, so a harness that dies
/// before its report still leaves CI a JUnit file that says so. Replaced at the end of the run.
std::string render_unfinished_junit(const std::string& scenario, const std::string& run_id);

/// `::error` workflow commands for GitHub Actions, one per reason the drill failed.
std::string render_github_annotations(const nlohmann::json& report);

std::string render_markdown_summary(const nlohmann::json& report);
std::string render_junit(const nlohmann::json& report);
std::string render_openmetrics(const nlohmann::json& report);

/// The terminal summary: objectives vs measured, verdict, where the files are.
std::string render_terminal_summary(const nlohmann::json& report, const std::filesystem::path& run_dir, bool color);

/// "1.234s", "–" for null.
std::string format_seconds(const nlohmann::json& seconds);
/// "42", "–" for null.
std::string format_count(const nlohmann::json& count);

}  // namespace firedrill
