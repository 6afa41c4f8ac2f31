// The SVG timeline of report.html, drawn from the recorded history: faults, steps, each probe's up
// and down, acknowledged, failed and lost writes per bucket of time, and the recovery phases, on an
// axis of time from T0.
#include "reports/html.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "reports/html_internal.hpp"

namespace firedrill {
namespace {

using nlohmann::json;

constexpr Micros bucket_micros = 100'000;
// Beyond this many bars the page grows without showing more; long drills get wider buckets.
constexpr std::size_t max_buckets = 1200;

struct Span {
  Micros begin = 0;
  Micros end = 0;
};

/// From the first thing the drill did (workload, step, write, probe) to the last.
Span timeline_span(const RunRecord& run) {
  std::optional<Micros> begin, end;
  auto widen = [&](std::optional<Micros> t) {
    if (!t) return;
    if (!begin || *t < *begin) begin = t;
    if (!end || *t > *end) end = t;
  };
  for (const auto& event : run.events)
    if (event.kind == event_kind::workload_started || event.kind == event_kind::workload_stopped ||
        event.kind == event_kind::step_started || event.kind == event_kind::step_finished || event.kind == event_kind::probe ||
        event.kind == event_kind::fault_injected || event.kind == event_kind::fault_reverted)
      widen(event.t);
  for (const auto& ack : run.acks) {
    widen(ack.sent);
    widen(ack.acked);
  }
  for (const auto& step : run.report.steps) {
    widen(time_at(step.started_at));
    widen(time_at(step.finished_at));
  }
  if (!begin) {
    begin = time_at(run.report.started_at);
    end = time_at(run.report.finished_at);
  }
  Span span{begin.value_or(0), end.value_or(0)};
  if (span.end <= span.begin) span.end = span.begin + 1'000'000;
  return span;
}

/// A tick spacing giving about 10 ticks over the span, from a 1-2-5 series.
Micros tick_spacing(Micros span) {
  static const Micros steps[] = {100'000,    200'000,    500'000,     1'000'000,   2'000'000,  5'000'000, 10'000'000,
                                 15'000'000, 30'000'000, 60'000'000, 120'000'000, 300'000'000, 600'000'000, 1'800'000'000,
                                 3'600'000'000};
  for (Micros step : steps)
    if (span / step <= 12) return step;
  return 3'600'000'000;
}

class Timeline {
 public:
  explicit Timeline(const RunRecord& run) : run_(run), span_(timeline_span(run)) {
    incident_ = time_at(run.report.incident_at);
    origin_ = incident_.value_or(span_.begin);
  }

  std::string render() {
    collect_probes();
    const double steps_top = 56;
    const double probes_top = steps_top + lane_height_ + 10;
    const double writes_top = probes_top + static_cast<double>(probes_.size()) * (lane_height_ + 4) + 10;
    // The lost-write markers sit in a strip above the bars, clear of them.
    const double writes_baseline = writes_top + 16 + writes_height_;
    const double failed_bottom = writes_baseline + failed_height_;
    const double axis_y = failed_bottom + 8;
    const double height = axis_y + 58;
    plot_top_ = 30;
    plot_bottom_ = failed_bottom;

    svg_ = fmt::format(
        "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {:.0f}\" role=\"img\" "
        "aria-label=\"timeline of the drill\">\n",
        width_, height);
    draw_axis(axis_y);
    draw_faults();
    draw_steps(steps_top);
    draw_probes(probes_top);
    draw_writes(writes_top, writes_baseline);
    draw_phases();
    draw_legend(axis_y + 36);
    svg_ += "</svg>\n";
    return svg_;
  }

 private:
  double x(Micros t) const {
    t = std::clamp(t, span_.begin, span_.end);
    return left_ + static_cast<double>(t - span_.begin) / static_cast<double>(span_.end - span_.begin) * plot_width();
  }
  double plot_width() const { return width_ - left_ - right_; }

  std::string relative(Micros t) const { return signed_seconds(t - origin_); }

  /// Tick labels are round numbers: "+2s", "−0.5s", "+1m".
  std::string tick_label(Micros t) const {
    double seconds = static_cast<double>(t - origin_) / 1e6;
    std::string sign = seconds < 0 ? "−" : "+";
    double magnitude = std::fabs(seconds);
    if (magnitude >= 120 && std::fmod(magnitude, 60) == 0) return fmt::format("{}{:g}m", sign, magnitude / 60);
    return fmt::format("{}{:g}s", sign, magnitude);
  }

  void label(double at_x, double at_y, const std::string& text, const char* anchor = "end") {
    svg_ += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\">{}</text>\n", at_x, at_y, anchor, html_escape(text));
  }

  void collect_probes() {
    for (const auto& event : run_.events) {
      if (event.kind != event_kind::probe) continue;
      std::string name = event.details.value("probe", "");
      if (std::find(probes_.begin(), probes_.end(), name) == probes_.end()) probes_.push_back(name);
      changes_[name].push_back({event.t, event.details.value("ok", false), event.details.value("error", "")});
    }
    for (auto& [name, list] : changes_)
      std::stable_sort(list.begin(), list.end(), [](const Change& a, const Change& b) { return a.t < b.t; });
  }

  void draw_axis(double axis_y) {
    Micros spacing = tick_spacing(span_.end - span_.begin);
    // Ticks fall on whole multiples of the spacing from the origin (T0), so T0 itself is one.
    Micros first = origin_ - ((origin_ - span_.begin) / spacing) * spacing;
    svg_ += "<g class=\"axis\">\n";
    svg_ += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#59636e\"/>\n", left_, axis_y,
                        width_ - right_, axis_y);
    for (Micros t = first; t <= span_.end; t += spacing) {
      double at = x(t);
      svg_ += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#eaeef2\"/>\n", at, plot_top_,
                          axis_y);
      svg_ += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#59636e\"/>\n", at, axis_y,
                          axis_y + 4);
      label(at, axis_y + 16, t == origin_ && incident_ ? "T0" : tick_label(t), "middle");
    }
    // Clear of the first tick's label, which is centred on the plot's left edge.
    label(left_ - 32, axis_y + 16, incident_ ? "time from T0" : "time", "end");
    svg_ += "</g>\n";
  }

  void draw_faults() {
    for (const auto& fault : run_.report.faults) {
      auto injected = time_at(fault.injected_at);
      if (!injected) continue;
      Micros reverted = time_at(fault.reverted_at).value_or(span_.end);
      double from = x(*injected), to = std::max(x(reverted), from + 2);
      std::string name = fmt::format("{} {}", fault.type, fault.target);
      svg_ += fmt::format(
          "<rect class=\"fault\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"#cf222e\" fill-opacity=\"0.10\" "
          "stroke=\"#cf222e\" stroke-opacity=\"0.35\"><title>fault {} from {} to {}</title></rect>\n",
          from, plot_top_ + 12, to - from, plot_bottom_ - plot_top_ - 12, html_escape(name), relative(*injected),
          fault.reverted_at ? relative(reverted) : "the end (never reverted)");
      label(from + 4, plot_top_ + 23, "fault: " + name, "start");
    }
  }

  void draw_steps(double top) {
    label(left_ - 8, top + 12, "steps");
    for (const auto& step : run_.report.steps) {
      auto started = time_at(step.started_at);
      auto finished = time_at(step.finished_at);
      if (!started || !finished) continue;
      double from = x(*started), to = std::max(x(*finished), from + 2);
      const std::string& outcome = step.outcome;
      // A person's step of a rehearsal stands out, outlined in red when it overran its budget.
      const json& human = step.human;
      const bool by_hand = human.is_object();
      const bool over_budget = by_hand && human.value("over_budget", false);
      const char* fill = outcome == "ok" ? (by_hand ? "#8250df" : "#8c959f") : outcome == "skipped" ? "#d0d7de" : "#cf222e";
      const std::string& name = step.name;
      std::string budget = by_hand && human.contains("budget_seconds")
                               ? fmt::format(", budget {}{}", format_seconds(human["budget_seconds"]), over_budget ? " OVER" : "")
                               : "";
      svg_ += fmt::format(
          "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" rx=\"3\" fill=\"{}\" fill-opacity=\"0.45\" "
          "stroke=\"{}\"><title>{}step {}: {} ({}{}, {})</title></rect>\n",
          from, top, to - from, lane_height_, fill, over_budget ? "#cf222e" : "#fff", by_hand ? "human " : "",
          html_escape(name), html_escape(outcome), format_seconds(step.duration_seconds), budget, relative(*started));
      // Only as much of the name as fits the bar (about 6 px a character).
      std::size_t fits = static_cast<std::size_t>(std::max(0.0, (to - from - 8) / 6.2));
      if (fits >= 3) label(from + 4, top + 12, name.size() > fits ? name.substr(0, fits - 1) + "…" : name, "start");
    }
  }

  void draw_probes(double top) {
    for (std::size_t i = 0; i < probes_.size(); ++i) {
      const std::string& name = probes_[i];
      double y = top + static_cast<double>(i) * (lane_height_ + 4);
      label(left_ - 8, y + 12, "probe " + name);
      svg_ += fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"#eaeef2\"/>\n", left_, y, plot_width(),
                          lane_height_);
      const auto& list = changes_[name];
      for (std::size_t j = 0; j < list.size(); ++j) {
        Micros until = j + 1 < list.size() ? list[j + 1].t : span_.end;
        double from = x(list[j].t), to = std::max(x(until), from + 1);
        svg_ += fmt::format(
            "<rect class=\"probe-{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"><title>{} {} from {}{}</title></rect>\n",
            list[j].ok ? "up" : "down", from, y, to - from, lane_height_, list[j].ok ? "#4ac26b" : "#cf222e", html_escape(name),
            list[j].ok ? "up" : "down", relative(list[j].t), list[j].error.empty() ? "" : ": " + html_escape(list[j].error));
      }
    }
  }

  void draw_writes(double top, double baseline) {
    Micros bucket = bucket_micros;
    for (Micros wider : {200'000, 500'000, 1'000'000, 2'000'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000})
      if (static_cast<std::size_t>((span_.end - span_.begin) / bucket) > max_buckets) bucket = wider;
    std::size_t count = static_cast<std::size_t>((span_.end - span_.begin) / bucket) + 1;
    std::vector<int> acked(count, 0), failed(count, 0), lost(count, 0);
    auto index = [&](Micros t) { return static_cast<std::size_t>((std::clamp(t, span_.begin, span_.end) - span_.begin) / bucket); };
    for (const auto& ack : run_.acks) {
      if (ack.outcome == WriteOutcome::ok && ack.acked) {
        ++acked[index(*ack.acked)];
        if (run_.lost_ack_ids.count(ack.id)) ++lost[index(*ack.acked)];
      } else {
        ++failed[index(ack.sent)];
      }
    }
    int most = std::max(1, *std::max_element(acked.begin(), acked.end()));
    int most_failed = std::max(1, *std::max_element(failed.begin(), failed.end()));
    std::string per = bucket < 1'000'000 ? fmt::format("per {} ms", bucket / 1000) : fmt::format("per {} s", bucket / 1'000'000);
    label(left_ - 8, top + 28, "acknowledged");
    label(left_ - 8, top + 42, fmt::format("writes {}", per));
    label(left_ - 8, top + 56, fmt::format("(max {})", most));
    label(left_ - 8, baseline + 14, "failed writes");
    svg_ += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#8c959f\"/>\n", left_, baseline, width_ - right_,
                        baseline);
    double bar = plot_width() / static_cast<double>(count);
    svg_ += "<g class=\"writes\">\n";
    for (std::size_t i = 0; i < count; ++i) {
      Micros at = span_.begin + static_cast<Micros>(i) * bucket;
      double left = left_ + static_cast<double>(i) * bar;
      if (acked[i] > 0) {
        double h = writes_height_ * acked[i] / most;
        svg_ += fmt::format(
            "<rect class=\"acked\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"#0969da\"><title>{} acknowledged at {}</title></rect>\n",
            left, baseline - h, std::max(bar - 0.5, 0.5), h, acked[i], relative(at));
      }
      if (failed[i] > 0) {
        double h = std::max(2.0, (failed_height_ - 6) * failed[i] / most_failed);
        svg_ += fmt::format(
            "<rect class=\"failed\" x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"#cf222e\"><title>{} failed writes sent at {}</title></rect>\n",
            left, baseline + 1, std::max(bar - 0.5, 0.5), h, failed[i], relative(at));
      }
      if (lost[i] > 0) {
        double cx = left + bar / 2;
        svg_ += fmt::format(
            "<path class=\"lost\" d=\"M{:.2f} {:.2f} l-6 -11 h12 z\" fill=\"#8250df\"><title>{} acknowledged writes lost, acknowledged at {}</title></path>\n",
            cx, top + 12, lost[i], relative(at));
        svg_ += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"end\" style=\"fill:#8250df;font-weight:600\">{} lost</text>\n",
                            cx - 8, top + 10, lost[i]);
        svg_ += fmt::format("<line x1=\"{0:.2f}\" y1=\"{1:.2f}\" x2=\"{0:.2f}\" y2=\"{2:.2f}\" stroke=\"#8250df\" stroke-dasharray=\"2 2\"/>\n",
                            cx, top + 12, baseline);
      }
    }
    svg_ += "</g>\n";
  }

  void draw_phases() {
    const auto& phases = run_.report.measured.phases;
    struct Phase {
      const char* key;
      const char* name;
      const char* color;
    };
    static const Phase kinds[] = {{"incident_at", "incident (T0)", "#cf222e"},
                                  {"detected_at", "detected", "#bc4c00"},
                                  {"recovered_at", "recovered", "#1a7f37"}};
    double last_label_end = -1e9;
    int row = 0;
    for (const auto& phase : kinds) {
      const bool is_incident = phase.key == std::string("incident_at");
      auto recorded = phases.find(phase.key);
      const std::optional<Micros> recorded_at = recorded == phases.end() ? std::nullopt : time_at(recorded->second);
      const std::optional<Micros> when = recorded_at || !is_incident ? recorded_at : incident_;
      if (!when.has_value()) continue;
      const Micros t = when.value_or(0);
      double at = x(t);
      std::string text = is_incident ? phase.name : fmt::format("{} {}", phase.name, relative(t));
      // Labels that would overlap the previous one go on the other row.
      row = at < last_label_end + 6 ? 1 - row : 0;
      last_label_end = at + 6.2 * static_cast<double>(text.size());
      svg_ += fmt::format(
          "<line class=\"phase\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" stroke-width=\"1.5\" "
          "stroke-dasharray=\"5 3\"><title>{4}</title></line>\n",
          at, 4.0 + row * 13.0 + 2, plot_bottom_, phase.color, html_escape(text));
      svg_ += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"start\" fill=\"{}\" style=\"fill:{}\">{}</text>\n", at + 3,
                          13.0 + row * 13.0, phase.color, phase.color, html_escape(text));
    }
  }

  void draw_legend(double y) {
    struct Key {
      const char* text;
      const char* color;
    };
    static const Key keys[] = {{"fault active", "#f9d7da"},  {"probe up", "#4ac26b"},      {"probe down", "#cf222e"},
                               {"acknowledged writes", "#0969da"}, {"failed writes", "#cf222e"}, {"lost acknowledged writes", "#8250df"}};
    double at = left_;
    for (const auto& key : keys) {
      svg_ += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/>\n", at, y - 10, key.color);
      label(at + 16, y, key.text, "start");
      at += 28 + 6.4 * static_cast<double>(std::string(key.text).size());
    }
  }

  struct Change {
    Micros t;
    bool ok;
    std::string error;
  };

  const RunRecord& run_;
  Span span_;
  std::optional<Micros> incident_;
  Micros origin_ = 0;
  std::vector<std::string> probes_;
  std::map<std::string, std::vector<Change>> changes_;
  std::string svg_;
  const double width_ = 1160;
  const double left_ = 170;
  const double right_ = 20;
  const double lane_height_ = 18;
  const double writes_height_ = 90;
  const double failed_height_ = 30;
  double plot_top_ = 0;
  double plot_bottom_ = 0;
};

}  // namespace

std::string timeline_section(const RunRecord& run) {
  std::string html = "<section>\n<h2>Timeline</h2>\n";
  if (run.events.empty() && run.acks.empty() && run.report.steps.empty())
    return html + "<p>No history was recorded (events.jsonl and acks.jsonl are missing).</p>\n</section>\n";
  return html + Timeline(run).render() + "</section>\n";
}

}  // namespace firedrill
