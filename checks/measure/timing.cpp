// Timing: the nearest-rank percentile and the one rule for a late answer (the recovery measures,
// the prober and the scheduling monitor all apply it), latency and errors of the writes sent in a
// window, and how far the harness's own timing can be trusted around an incident.
#include "checks/measure/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "checks/measure/analysis_internal.hpp"

namespace firedrill {
namespace {

// A write answered later than max(late_at_least, late_factor × the p99 of the writes answered
// before T0) was down from when it was sent: a short freeze delays answers rather than failing them.
constexpr Micros late_at_least = 10'000;
constexpr Micros late_factor = 3;
// CPUs waited for this share of the time or more: the services' answers are the machine's too.
constexpr double contended_cpu_percent = 10;

}  // namespace

Micros nearest_rank_percentile(std::span<Micros> values, double p) {
  auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  rank = std::clamp<std::size_t>(rank, 1, values.size()) - 1;
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank), values.end());
  return values[rank];
}

Micros late_after(std::span<Micros> usual_latencies) {
  if (usual_latencies.empty()) return late_at_least;
  return std::max<Micros>(late_at_least, late_factor * nearest_rank_percentile(usual_latencies, 0.99));
}

MeasurementQuality measurement_quality(const std::vector<Event>& events, Micros from, Micros to,
                                       std::optional<double> rto_seconds) {
  MeasurementQuality quality;
  quality.tolerance_ms = std::max(10.0, 5.0 * rto_seconds.value_or(0));  // 0.5 % of the RTO, in ms
  for (const Event& event : events) {
    if (event.kind != event_kind::harness_scheduling || !event.details.is_object()) continue;
    const std::string* window_from = string_detail(event, "from");
    if (window_from == nullptr || event.t < from) continue;
    Micros starts = 0;
    try {
      starts = parse_rfc3339(*window_from);
    } catch (const std::invalid_argument&) {
      continue;
    }
    if (starts > to) continue;
    const double max_delay = event.details.value("max_delay_ms", 0.0);
    const double p99_delay = event.details.value("p99_delay_ms", 0.0);
    quality.max_delay_ms = std::max(quality.max_delay_ms.value_or(0.0), max_delay);
    quality.p99_delay_ms = std::max(quality.p99_delay_ms.value_or(0.0), p99_delay);
    if (const auto pressure = event.details.find("cpu_pressure_percent");
        pressure != event.details.end() && pressure->is_number())
      quality.cpu_pressure_percent = std::max(quality.cpu_pressure_percent.value_or(0.0), pressure->get<double>());
  }
  if (!quality.max_delay_ms) {
    quality.note = "the harness's scheduling delay was not recorded";
    return quality;
  }
  const bool woke_on_time = *quality.max_delay_ms <= quality.tolerance_ms;
  const bool cpus_free = quality.cpu_pressure_percent.value_or(0.0) < contended_cpu_percent;
  quality.verdict = woke_on_time && cpus_free ? "exact" : "degraded";
  const std::string pressure =
      quality.cpu_pressure_percent ? fmt::format(", CPUs contended {:.0f} % of the time", *quality.cpu_pressure_percent) : "";
  quality.note = quality.verdict == "exact"
                     ? fmt::format("from the incident to recovery the harness woke within {:.1f} ms of its timers{}",
                                   *quality.max_delay_ms, pressure)
                     : fmt::format("the machine was too loaded to measure to {:.0f} ms: from the incident to recovery the "
                                   "harness woke up to {:.1f} ms late{}, so times may be off by more than that",
                                   quality.tolerance_ms, *quality.max_delay_ms, pressure);
  return quality;
}

WriteStats write_stats(const std::vector<Ack>& acks, Micros from, Micros to) {
  WriteStats stats;
  std::vector<Micros> latencies;
  for (const Ack& ack : acks) {
    if (ack.sent < from || ack.sent >= to) continue;
    ++stats.sent;
    if (ack.outcome == WriteOutcome::ok && ack.acked) {
      ++stats.ok;
      latencies.push_back(*ack.acked - ack.sent);
    } else {
      ++stats.failed;
    }
  }
  if (stats.sent > 0) stats.error_rate = static_cast<double>(stats.failed) / static_cast<double>(stats.sent);
  if (to > from) stats.ok_per_second = static_cast<double>(stats.ok) / seconds_between(from, to);
  if (!latencies.empty()) {
    auto percentile = [&](double p) { return static_cast<double>(nearest_rank_percentile(latencies, p)) / 1000.0; };
    stats.p50_latency_ms = percentile(0.50);
    stats.p90_latency_ms = percentile(0.90);
    stats.p99_latency_ms = percentile(0.99);
    stats.max_latency_ms = static_cast<double>(*std::max_element(latencies.begin(), latencies.end())) / 1000.0;
  }
  return stats;
}

std::vector<FaultWindow> fault_windows(const std::vector<Event>& events, Micros until) {
  std::vector<FaultWindow> windows;
  for (const Event& injected : events) {
    if (injected.kind != event_kind::fault_injected) continue;
    FaultWindow window{injected.details.value("step", ""), injected.details.value("fault", ""),
                       injected.details.value("target", ""), injected.t, until};
    for (const Event& reverted : events)
      if (reverted.kind == event_kind::fault_reverted && reverted.t >= injected.t &&
          reverted.details.value("step", "") == window.step) {
        window.to = reverted.t;
        break;
      }
    windows.push_back(std::move(window));
  }
  return windows;
}

}  // namespace firedrill
