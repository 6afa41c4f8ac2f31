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

std::string milliseconds(const std::optional<double>& value) { return value ? fmt::format("{:.1f} ms", *value) : "–"; }

std::string objective_cells(const std::optional<ObjectiveResult>& objective) {
  if (!objective) return "<td class=\"muted\">–</td><td class=\"muted\">–</td>";
  return fmt::format("<td class=\"num {}\">{}</td><td class=\"num\">{}</td>", objective->met ? "ok" : "bad",
                     format_seconds(objective->measured_seconds), format_seconds(std::optional<double>(objective->target_seconds)));
}

}  // namespace

std::string verdict_banner(const Report& report) {
  const bool passed = report.passed();
  // A drill expected to fail is green when it failed: that is what it exists to show.
  const bool expected_to_fail = report.expects_failure();
  const bool as_expected = passed != expected_to_fail;
  const ScenarioIdentity& scenario = report.scenario;
  std::string html = fmt::format("<header class=\"verdict {}\">\n<h1>{} — {}</h1>\n", as_expected ? "pass" : "fail",
                                 verdict_words(report), html_escape(scenario.name));
  if (!scenario.description.empty()) html += fmt::format("<p>{}</p>\n", html_escape(scenario.description));
  html += fmt::format("<p class=\"meta\">run <code>{}</code> · mode {} · started {} · finished {}", html_escape(report.run_id),
                      html_escape(report.mode), html_escape(report.started_at), html_escape(report.finished_at));
  if (!scenario.runbook.empty()) html += fmt::format(" · runbook: {}", html_escape(scenario.runbook));
  html += "</p>\n";
  if (!report.reasons.empty()) {
    html += "<ul>\n";
    for (const auto& reason : report.reasons) html += fmt::format("<li>{}</li>\n", html_escape(reason));
    html += "</ul>\n";
  }
  return html + "</header>\n";
}

std::string objectives_section(const Report& report) {
  std::string html =
      "<section>\n<h2>Objectives vs measured</h2>\n<table>\n<tr><th>component</th><th>RTO measured</th><th>RTO target</th>"
      "<th>RPO measured</th><th>RPO target</th><th>detected after</th><th>downtime</th><th>result</th></tr>\n";
  for (const auto& [name, component] : report.components)
    html += fmt::format("<tr><td>{}</td>{}{}<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>\n",
                        html_escape(name), objective_cells(component.rto), objective_cells(component.rpo),
                        format_seconds(component.detect_seconds), format_seconds(component.downtime_seconds),
                        component.met ? "ok" : "bad", component.met ? "met" : "missed");
  html += "</table>\n";
  const Measured& measured = report.measured;
  html += fmt::format(
      "<p class=\"summary\">Writes: {} sent, {} acknowledged, {} failed, <strong>{} acknowledged writes lost</strong>"
      " ({} of them acknowledged after the incident).</p>\n",
      format_count(measured.writes_sent), format_count(measured.acked_writes), format_count(measured.failed_writes),
      format_count(measured.lost_acked_writes), format_count(measured.lost_acked_after_incident));
  if (!measured.recovery.empty()) html += fmt::format("<p class=\"summary\">Recovery: {}</p>\n", html_escape(measured.recovery));
  return html + "</section>\n";
}

std::string steps_section(const Report& report, const RelativeTime& clock) {
  std::string html =
      "<section>\n<h2>Steps</h2>\n<table>\n<tr><th>#</th><th>step</th><th>what</th><th>started</th><th>duration</th>"
      "<th>outcome</th><th>note</th></tr>\n";
  int index = 0;
  const bool rehearsal = report.mode == "rehearsal";
  for (const auto& step : report.steps) {
    ++index;
    const std::string& verb = step.verb;
    const std::string what = step.what.value_or("");
    const std::string target = step.target.value_or("");
    std::string description = html_escape(verb);
    if (!what.empty() && verb != "manual") description += " " + html_escape(what);
    if (!target.empty()) description += " → " + html_escape(target);
    if (verb == "manual") description += rehearsal ? " <span class=\"badge\">human step, timed</span>" : " <span class=\"badge\">human step</span>";
    const std::string& outcome = step.outcome;
    std::string note = step.error.value_or("");
    if (note.empty() && step.details.is_object() && step.details.contains("instruction")) note = text_of(step.details["instruction"]);
    if (note.empty() && verb == "manual") note = what;
    if (const json& human = step.human; human.is_object()) {
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
        index, html_escape(step.name), description, clock.at(time_at(step.started_at)), format_seconds(step.duration_seconds),
        outcome == "ok" ? "ok" : outcome == "skipped" ? "muted" : "bad", html_escape(outcome), html_escape(note));
  }
  return html + "</table>\n</section>\n";
}

std::string checks_section(const Report& report) {
  std::string html = "<section>\n<h2>Checks</h2>\n<table>\n<tr><th>check</th><th>result</th><th>detail</th></tr>\n";
  for (const auto& check : report.checks)
    html += fmt::format("<tr><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n", html_escape(check.name),
                        check.passed() ? "ok" : "bad", check.passed() ? "pass" : "FAIL", html_escape(check.detail));
  return html + "</table>\n</section>\n";
}

std::string latency_section(const Report& report, const RelativeTime& clock) {
  const Measured& measured = report.measured;
  std::vector<std::pair<std::string, const WriteWindow*>> windows;
  if (measured.before_faults) windows.emplace_back("before faults", &*measured.before_faults);
  for (const auto& window : measured.during_faults)
    windows.emplace_back(fmt::format("during {} {}", window.fault.value_or(""), window.target.value_or("")), &window);
  if (windows.empty()) return "";
  std::string html =
      "<section>\n<h2>Write latency</h2>\n<table>\n<tr><th>window</th><th>from</th><th>to</th><th>writes sent</th><th>failed</th>"
      "<th>error rate</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n";
  for (const auto& [name, window] : windows) {
    html += fmt::format(
        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
        html_escape(name), clock.at(time_at(window->from)), clock.at(time_at(window->to)),
        format_count(std::optional<std::int64_t>(window->writes_sent)), format_count(std::optional<std::int64_t>(window->writes_failed)),
        fmt::format("{:.1f} %", window->error_rate * 100), milliseconds(window->p50_write_latency_ms),
        milliseconds(window->p90_write_latency_ms), milliseconds(window->p99_write_latency_ms),
        milliseconds(window->max_write_latency_ms));
  }
  return html + "</table>\n</section>\n";
}

std::string backups_section(const RunRecord& run, const RelativeTime& clock) {
  std::map<std::string, std::string> folders;  // backup id -> where the action put it
  for (const auto& step : run.report.steps) {
    const json& details = step.details;
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

std::string faults_section(const Report& report, const RelativeTime& clock) {
  if (report.faults.empty()) return "";
  std::string html =
      "<section>\n<h2>Faults</h2>\n<table>\n<tr><th>fault</th><th>target</th><th>step</th><th>injected</th><th>reverted</th>"
      "<th>details</th></tr>\n";
  for (const auto& fault : report.faults)
    html += fmt::format("<tr><td>{}{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>\n",
                        html_escape(fault.type), fault.incident ? " <span class=\"badge\">incident</span>" : "",
                        html_escape(fault.target), html_escape(fault.step), clock.at(time_at(fault.injected_at)),
                        fault.reverted_at ? clock.at(time_at(fault.reverted_at)) : "never",
                        fault.details.is_null() ? "" : html_escape(fault.details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  return html + "</table>\n</section>\n";
}

std::string environment_section(const Report& report) {
  const EnvironmentRecord environment = report.environment.value_or(EnvironmentRecord{});
  std::string html = fmt::format(
      "<section>\n<h2>Environment</h2>\n<table>\n<tr><th>runtime</th><td>{}</td></tr>\n<tr><th>firedrill version</th><td>{}</td></tr>\n"
      "<tr><th>host</th><td>{}</td></tr>\n<tr><th>scenario file</th><td><code>{}</code> (sha256 <code>{}</code>)</td></tr>\n",
      html_escape(environment.runtime), html_escape(environment.firedrill_version), html_escape(environment.host),
      html_escape(report.scenario.file), html_escape(report.scenario.sha256));
  if (const auto& harness = report.harness)
    html += fmt::format("<tr><th>harness time</th><td>bring-up {}, drill {}, teardown {}</td></tr>\n",
                        format_seconds(std::optional<double>(harness->bringup_seconds)),
                        format_seconds(std::optional<double>(harness->drill_seconds)),
                        format_seconds(std::optional<double>(harness->teardown_seconds)));
  html += "</table>\n";
  if (!environment.services.empty()) {
    html += "<table>\n<tr><th>service</th><th>kind</th><th>image</th><th>image id</th><th>endpoint</th></tr>\n";
    for (const auto& service : environment.services)
      html += fmt::format("<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
                          html_escape(service.name), html_escape(service.kind), html_escape(service.image),
                          html_escape(service.image_id), html_escape(service.endpoint));
    html += "</table>\n";
  }
  return html + "</section>\n";
}

std::string artifacts_footer(const Report& report) {
  std::string html = "<footer>\n";
  if (report.artifacts && !report.artifacts->empty()) {
    html += "<p>Recorded files (SHA-256):</p>\n<table>\n";
    for (const auto& artifact : *report.artifacts)
      html += fmt::format("<tr><td><code>{}</code></td><td><code>{}</code></td></tr>\n", html_escape(artifact.path),
                          html_escape(artifact.sha256));
    html += "</table>\n";
  }
  html += fmt::format("<p>Written by firedrill {} from report.json ({}), events.jsonl and acks.jsonl.</p>\n</footer>\n",
                      html_escape(report.environment ? report.environment->firedrill_version : ""), html_escape(report.schema));
  return html;
}

}  // namespace firedrill
