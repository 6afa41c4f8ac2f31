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

/// Writes every registered format into run_dir (report.json first).
void write_report_files(const std::filesystem::path& run_dir, const nlohmann::json& report);

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
