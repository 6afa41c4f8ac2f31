#include "reports/registry.hpp"

#include "core/vocabulary.hpp"
#include "reports/html.hpp"

namespace firedrill {
namespace {

std::map<std::string, ReportWriter> build_writers() {
  std::map<std::string, ReportWriter> writers;
  auto add = [&](const std::string& format, ReportWriter writer) {
    register_unique(writers, format, std::move(writer), "report format");
  };
  add("html", {"report.html", render_html});
  add("json", {"report.json", [](const RunRecord& run) {
    // Bytes from a container may be anything; a report must still be written.
    return nlohmann::json(run.report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }});
  add("markdown", {"summary.md", [](const RunRecord& run) { return render_markdown_summary(run.report); }});
  add("junit", {"junit.xml", [](const RunRecord& run) { return render_junit(run.report); }});
  add("openmetrics", {"metrics.prom", [](const RunRecord& run) { return render_openmetrics(run.report); }});
  return writers;
}

}  // namespace

const std::map<std::string, ReportWriter>& report_writers() {
  static const std::map<std::string, ReportWriter> writers = build_writers();
  return writers;
}

void write_report_files(const std::filesystem::path& run_dir, const nlohmann::json& report) {
  RunRecord run;
  try {
    run = load_run_record(run_dir, report);
  } catch (const std::exception&) {
    // A damaged history must not cost the run its report: the writers render without it.
    run = RunRecord{report_from_json(report), {}, {}, {}};
  }
  for (const auto& [format, writer] : report_writers()) write_file_atomically(run_dir / writer.file_name, writer.render(run));
}

}  // namespace firedrill
