// report.html: the page itself (its head, inline style and the order of its sections), HTML
// escaping, and the readers of the report's fields every part of the page uses. The timeline is
// drawn in html_timeline.cpp, the tables in html_sections.cpp.
#include "reports/html.hpp"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "reports/html_internal.hpp"

namespace firedrill {
namespace {

using nlohmann::json;

const char* css() {
  return R"css(
:root { --pass: #1a7f37; --fail: #cf222e; --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 16px 24px 40px; color: var(--ink);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.verdict { border-radius: 8px; padding: 14px 20px; color: #fff; }
.verdict.pass { background: var(--pass); }
.verdict.fail { background: var(--fail); }
.verdict p { margin: 4px 0; }
.verdict ul { margin: 8px 0 0; padding-left: 20px; }
.verdict .meta { opacity: 0.92; font-size: 13px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.ok, span.ok { color: var(--pass); font-weight: 600; }
td.bad, span.bad { color: var(--fail); font-weight: 600; }
td.muted { color: var(--muted); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.badge { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 8px; background: #ddf4ff; color: #0550ae; }
.summary { margin: 6px 0; }
svg.timeline { width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
svg.timeline text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
svg.timeline .axis text { fill: var(--muted); }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  .verdict, svg.timeline, .badge { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section, table, svg.timeline { break-inside: avoid; }
  h2 { break-after: avoid; }
}
)css";
}

}  // namespace

const json& field(const json& object, const char* key) {
  static const json null_value;
  if (!object.is_object()) return null_value;
  auto found = object.find(key);
  return found == object.end() ? null_value : *found;
}

std::string text_of(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string escaped(const json& value) { return html_escape(text_of(value)); }

std::optional<Micros> time_of(const json& value) {
  if (!value.is_string()) return std::nullopt;
  return time_at(value.get<std::string>());
}

std::optional<Micros> time_at(const std::optional<std::string>& value) {
  if (!value) return std::nullopt;
  try {
    return parse_rfc3339(*value);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string signed_seconds(Micros offset) {
  double seconds = static_cast<double>(offset) / 1e6;
  return fmt::format("{}{}", seconds <= -0.0005 ? "−" : "+", format_seconds(json(std::fabs(seconds))));
}

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_html(const RunRecord& run) {
  const Report& report = run.report;
  auto incident = time_at(report.incident_at);
  RelativeTime clock(incident ? incident : time_at(report.started_at), incident.has_value());
  const bool passed = report.passed();
  std::string html = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // Nothing on this page may load from anywhere: it is read offline and archived as evidence.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
      "<title>{} firedrill {}</title>\n<style>{}</style>\n</head>\n<body>\n",
      passed ? "PASS" : "FAIL", html_escape(report.scenario.name), css());
  html += verdict_banner(report);
  html += objectives_section(report);
  html += timeline_section(run);
  html += steps_section(report, clock);
  html += checks_section(report);
  html += latency_section(report, clock);
  html += backups_section(run, clock);
  html += faults_section(report, clock);
  html += environment_section(report);
  html += artifacts_footer(report);
  return html + "</body>\n</html>\n";
}

}  // namespace firedrill
