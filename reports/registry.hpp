#pragma once
// The report formats a run writes, by name: one line each in registry.cpp.
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "reports/writers.hpp"

namespace firedrill {

struct ReportWriter {
  std::string file_name;
  std::function<std::string(const RunRecord& run)> render;
};

/// Every writer by format name (html, json, markdown, junit, openmetrics); a duplicate aborts.
const std::map<std::string, ReportWriter>& report_writers();

/// Writes every registered format into run_dir, each atomically (a temporary file renamed over
/// the old one), so a reader — node_exporter's textfile collector, a CI step — never sees half.
/// The history is read from run_dir (load_run_record).
void write_report_files(const std::filesystem::path& run_dir, const nlohmann::json& report);

}  // namespace firedrill
