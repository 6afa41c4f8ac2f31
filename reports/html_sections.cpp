// The header and the tables of report.html: the verdict, objectives vs measured, steps, checks,
// write latency, backups, faults, the environment and the recorded files. Each returns its part of
// the page (a section with nothing to show returns nothing) for render_html (html.cpp).
#include "reports/html.hpp"

#include <map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "reports/html_internal.hpp"

namespace firedrill {
namespace {

using nlohmann::json;

std::string milliseconds(const json& value) { return value.is_number() ? fmt::format("{:.1f} ms", value.get<double>()) : "–"; }

std::string objective_cells(const json& objective) {
  if (!objective.is_object()) return "<td class=\"muted\">–</td><td class=\"muted\">–</td>";
  bool met = objective.value("met", false);
  return fmt::format("<td class=\"num {}\">{}</td><td class=\"num\">{}</td>", met ? "ok" : "bad",
                     format_seconds(field(objective, "measured_seconds")), format_seconds(field(objective, "target_seconds")));
}

}  // namespace

std::string verdict_banner(const json& report) {
  bool passed = report.value("verdict", "fail") == "pass";
  // A drill expected to fail is green when it failed: that is what it exists to show.
  const bool expected_to_fail = report.value("expected", "pass") == "fail";
  const bool as_expected = passed != expected_to_fail;
  const char* words = expected_to_fail ? (passed ? "PASS (expected FAIL)" : "FAIL (expected)") : (passed ? "PASS" : "FAIL");
  const json& scenario = field(report, "scenario");
  std::string html = fmt::format("<header class=\"verdict {}\">\n<h1>{} — {}</h1>\n", as_expected ? "pass" : "fail",
                                 words, escaped(field(scenario, "name")));
  if (!text_of(field(scenario, "description")).empty()) html += fmt::format("<p>{}</p>\n", escaped(field(scenario, "description")));
  html += fmt::format("<p class=\"meta\">run <code>{}</code> · mode {} · started {} · finished {}",
                      escaped(field(report, "run_id")), escaped(field(report, "mode")), escaped(field(report, "started_at")),
                      escaped(field(report, "finished_at")));
  if (!text_of(field(scenario, "runbook")).empty()) html += fmt::format(" · runbook: {}", escaped(field(scenario, "runbook")));
  html += "</p>\n";
  const json& reasons = field(report, "reasons");
  if (reasons.is_array() && !reasons.empty()) {
    html += "<ul>\n";
    for (const auto& reason : reasons) html += fmt::format("<li>{}</li>\n", escaped(reason));
    html += "</ul>\n";
  }
  return html + "</header>\n";
}

std::string objectives_section(const json& report) {
  std::string html =
      "<section>\n<h2>Objectives vs measured</h2>\n<table>\n<tr><th>component</th><th>RTO measured</th><th>RTO target</th>"
      "<th>RPO measured</th><th>RPO target</th><th>detected after</th><th>downtime</th><th>result</th></tr>\n";
  const json& components = field(report, "components");
  if (components.is_object())
    for (const auto& [name, component] : components.items()) {
      bool met = component.value("met", false);
      html += fmt::format("<tr><td>{}</td>{}{}<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>\n",
                          html_escape(name), objective_cells(field(component, "rto")), objective_cells(field(component, "rpo")),
                          format_seconds(field(component, "detect_seconds")), format_seconds(field(component, "downtime_seconds")),
                          met ? "ok" : "bad", met ? "met" : "missed");
    }
  html += "</table>\n";
  const json& measured = field(report, "measured");
  html += fmt::format(
      "<p class=\"summary\">Writes: {} sent, {} acknowledged, {} failed, <strong>{} acknowledged writes lost</strong>"
      " ({} of them acknowledged after the incident).</p>\n",
      format_count(field(measured, "writes_sent")), format_count(field(measured, "acked_writes")),
      format_count(field(measured, "failed_writes")), format_count(field(measured, "lost_acked_writes")),
      format_count(field(measured, "lost_acked_after_incident")));
  if (!text_of(field(measured, "recovery")).empty())
    html += fmt::format("<p class=\"summary\">Recovery: {}</p>\n", escaped(field(measured, "recovery")));
  return html + "</section>\n";
}

std::string steps_section(const json& report, const RelativeTime& clock) {
  std::string html =
      "<section>\n<h2>Steps</h2>\n<table>\n<tr><th>#</th><th>step</th><th>what</th><th>started</th><th>duration</th>"
      "<th>outcome</th><th>note</th></tr>\n";
  int index = 0;
  bool rehearsal = report.value("mode", "") == "rehearsal";
  for (const auto& step : field(report, "steps")) {
    ++index;
    std::string verb = text_of(field(step, "verb"));
    std::string what = text_of(field(step, "what"));
    std::string target = text_of(field(step, "target"));
    std::string description = html_escape(verb);
    if (!what.empty() && verb != "manual") description += " " + html_escape(what);
    if (!target.empty()) description += " → " + html_escape(target);
    if (verb == "manual") description += rehearsal ? " <span class=\"badge\">human step, timed</span>" : " <span class=\"badge\">human step</span>";
    std::string outcome = text_of(field(step, "outcome"));
    std::string note = text_of(field(step, "error"));
    const json& details = field(step, "details");
    if (note.empty() && details.is_object() && details.contains("instruction")) note = text_of(details["instruction"]);
    if (note.empty() && verb == "manual") note = what;
    if (const json& human = field(step, "human"); human.is_object()) {
      std::string timing = fmt::format("done by {}", text_of(field(human, "completed_by")));
      if (human.contains("budget_seconds"))
        timing += fmt::format(" · budget {} · {}", format_seconds(human["budget_seconds"]),
                              human.value("over_budget", false) ? "OVER" : "under");
      note = note.empty() ? timing : timing + " — " + note;
      if (verb != "manual") description += " <span class=\"badge\">human step, timed</span>";
    }
    html += fmt::format(
        "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td>"
        "<td>{}</td></tr>\n",
        index, escaped(field(step, "name")), description, clock.at(time_of(field(step, "started_at"))),
        format_seconds(field(step, "duration_seconds")), outcome == "ok" ? "ok" : outcome == "skipped" ? "muted" : "bad",
        html_escape(outcome), html_escape(note));
  }
  return html + "</table>\n</section>\n";
}

std::string checks_section(const json& report) {
  std::string html = "<section>\n<h2>Checks</h2>\n<table>\n<tr><th>check</th><th>result</th><th>detail</th></tr>\n";
  for (const auto& check : field(report, "checks")) {
    bool passed = check.value("passed", false);
    html += fmt::format("<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n", escaped(field(check, "name")),
                        passed ? "ok" : "bad", passed ? "pass" : "FAIL", escaped(field(check, "detail")));
  }
  return html + "</table>\n</section>\n";
}

std::string latency_section(const json& report, const RelativeTime& clock) {
  const json& measured = field(report, "measured");
  std::vector<std::pair<std::string, const json*>> windows;
  if (field(measured, "before_faults").is_object()) windows.emplace_back("before faults", &field(measured, "before_faults"));
  for (const auto& window : field(measured, "during_faults"))
    windows.emplace_back(fmt::format("during {} {}", text_of(field(window, "fault")), text_of(field(window, "target"))), &window);
  if (windows.empty()) return "";
  std::string html =
      "<section>\n<h2>Write latency</h2>\n<table>\n<tr><th>window</th><th>from</th><th>to</th><th>writes sent</th><th>failed</th>"
      "<th>error rate</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n";
  for (const auto& [name, window] : windows) {
    const json& rate = field(*window, "error_rate");
    html += fmt::format(
        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        html_escape(name), clock.at(time_of(field(*window, "from"))), clock.at(time_of(field(*window, "to"))),
        format_count(field(*window, "writes_sent")), format_count(field(*window, "writes_failed")),
        rate.is_number() ? fmt::format("{:.1f} %", rate.get<double>() * 100) : "–", milliseconds(field(*window, "p50_write_latency_ms")),
        milliseconds(field(*window, "p90_write_latency_ms")), milliseconds(field(*window, "p99_write_latency_ms")),
        milliseconds(field(*window, "max_write_latency_ms")));
  }
  return html + "</table>\n</section>\n";
}

std::string backups_section(const RunRecord& run, const RelativeTime& clock) {
  std::map<std::string, std::string> folders;  // backup id -> where the action put it
  for (const auto& step : field(run.report, "steps")) {
    const json& details = field(step, "details");
    if (details.is_object() && details.contains("backup_id") && details.contains("path"))
      folders[text_of(details["backup_id"])] = text_of(details["path"]);
  }
  std::string rows;
  for (const auto& event : run.events) {
    if (event.kind != "backup.finished") continue;
    std::string id = text_of(field(event.details, "backup_id"));
    auto folder = folders.find(id);
    std::string manifest = folder == folders.end() ? "–" : "<code>" + html_escape(folder->second + "/manifest.json") + "</code>";
    const json& bytes = field(event.details, "bytes");
    rows += fmt::format(
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td>{}</td></tr>\n",
        html_escape(id), escaped(field(event.details, "service")), escaped(field(event.details, "method")), clock.at(event.t),
        format_count(field(event.details, "files")), bytes.is_number() ? fmt::format("{:.1f} MiB", bytes.get<double>() / 1048576.0) : "–",
        format_seconds(field(field(event.details, "phases"), "total_seconds")), manifest);
  }
  if (rows.empty()) return "";
  return "<section>\n<h2>Backups</h2>\n<table>\n<tr><th>backup</th><th>service</th><th>method</th><th>finished</th><th>files</th>"
         "<th>size</th><th>took</th><th>manifest</th></tr>\n" +
         rows + "</table>\n</section>\n";
}

std::string faults_section(const json& report, const RelativeTime& clock) {
  const json& faults = field(report, "faults");
  if (!faults.is_array() || faults.empty()) return "";
  std::string html =
      "<section>\n<h2>Faults</h2>\n<table>\n<tr><th>fault</th><th>target</th><th>step</th><th>injected</th><th>reverted</th>"
      "<th>details</th></tr>\n";
  for (const auto& fault : faults) {
    const json& details = field(fault, "details");
    html += fmt::format("<tr><td>{}{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>\n",
                        escaped(field(fault, "type")), fault.value("incident", false) ? " <span class=\"badge\">incident</span>" : "",
                        escaped(field(fault, "target")), escaped(field(fault, "step")), clock.at(time_of(field(fault, "injected_at"))),
                        field(fault, "reverted_at").is_string() ? clock.at(time_of(field(fault, "reverted_at"))) : "never",
                        details.is_null() ? "" : html_escape(details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  return html + "</table>\n</section>\n";
}

std::string environment_section(const json& report) {
  const json& environment = field(report, "environment");
  const json& scenario = field(report, "scenario");
  const json& harness = field(report, "harness");
  std::string html = fmt::format(
      "<section>\n<h2>Environment</h2>\n<table>\n<tr><th>runtime</th><td>{}</td></tr>\n<tr><th>firedrill version</th><td>{}</td></tr>\n"
      "<tr><th>host</th><td>{}</td></tr>\n<tr><th>scenario file</th><td><code>{}</code> (sha256 <code>{}</code>)</td></tr>\n",
      escaped(field(environment, "runtime")), escaped(field(environment, "firedrill_version")), escaped(field(environment, "host")),
      escaped(field(scenario, "file")), escaped(field(scenario, "sha256")));
  if (harness.is_object())
    html += fmt::format("<tr><th>harness time</th><td>bring-up {}, drill {}, teardown {}</td></tr>\n",
                        format_seconds(field(harness, "bringup_seconds")), format_seconds(field(harness, "drill_seconds")),
                        format_seconds(field(harness, "teardown_seconds")));
  html += "</table>\n";
  const json& services = field(environment, "services");
  if (services.is_array() && !services.empty()) {
    html += "<table>\n<tr><th>service</th><th>kind</th><th>image</th><th>image id</th><th>endpoint</th></tr>\n";
    for (const auto& service : services)
      html += fmt::format("<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
                          escaped(field(service, "name")), escaped(field(service, "kind")), escaped(field(service, "image")),
                          escaped(field(service, "image_id")), escaped(field(service, "endpoint")));
    html += "</table>\n";
  }
  return html + "</section>\n";
}

std::string artifacts_footer(const json& report) {
  std::string html = "<footer>\n";
  const json& artifacts = field(report, "artifacts");
  if (artifacts.is_array() && !artifacts.empty()) {
    html += "<p>Recorded files (SHA-256):</p>\n<table>\n";
    for (const auto& artifact : artifacts)
      html += fmt::format("<tr><td><code>{}</code></td><td><code>{}</code></td></tr>\n", escaped(field(artifact, "path")),
                          escaped(field(artifact, "sha256")));
    html += "</table>\n";
  }
  html += fmt::format("<p>Written by firedrill {} from report.json ({}), events.jsonl and acks.jsonl.</p>\n</footer>\n",
                      escaped(field(field(report, "environment"), "firedrill_version")), escaped(field(report, "schema")));
  return html;
}

}  // namespace firedrill
