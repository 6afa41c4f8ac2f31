#include "clients/probes/scheduling_monitor.hpp"

#include "checks/measure/analysis.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace firedrill {
namespace {

constexpr Micros wake_every = 10'000;
constexpr Micros window = 1'000'000;

// Microseconds in which some runnable task of the machine waited for a CPU, since boot (PSI);
// nothing where the kernel does not keep it.
std::optional<Micros> cpu_stall_total() {
  std::ifstream pressure("/proc/pressure/cpu");
  std::string kind, field;
  while (pressure >> kind) {
    for (int i = 0; i < 4 && pressure >> field; ++i)
      if (kind == "some" && field.starts_with("total=")) {
        try {
          return std::stoll(field.substr(6));
        } catch (const std::exception&) {
          return std::nullopt;
        }
      }
  }
  return std::nullopt;
}

}  // namespace

void SchedulingMonitor::start() {
  if (thread_.joinable()) return;
  stop_.reset();
  thread_ = std::thread([this] { run(); });
}

void SchedulingMonitor::stop() {
  if (!thread_.joinable()) return;
  stop_.request();
  thread_.join();
}

void SchedulingMonitor::run() {
  std::vector<Micros> delays;
  delays.reserve(window / wake_every);
  Micros window_from = clock_.now();
  std::optional<Micros> stalled_from = cpu_stall_total();
  Micros planned = window_from + wake_every;
  auto record = [&](Micros until) {
    if (delays.empty()) return;
    const std::optional<Micros> stalled_until = cpu_stall_total();
    const Micros max_delay = *std::max_element(delays.begin(), delays.end());
    const Micros p99_delay = nearest_rank_percentile(delays, 0.99);
    nlohmann::json details = {{"from", format_rfc3339_micros(window_from)},
                              {"samples", delays.size()},
                              {"p99_delay_ms", static_cast<double>(p99_delay) / 1000.0},
                              {"max_delay_ms", static_cast<double>(max_delay) / 1000.0}};
    // The share of the window in which something runnable waited for a CPU: the services of the
    // drill answer late on such a machine even when the harness itself wakes on time.
    if (stalled_from && stalled_until && until > window_from)
      details["cpu_pressure_percent"] =
          std::min(100.0, 100.0 * static_cast<double>(*stalled_until - *stalled_from) / static_cast<double>(until - window_from));
    events_.record_at(until, event_kind::harness_scheduling, std::move(details));
    delays.clear();
    window_from = until;
    stalled_from = stalled_until;
  };
  while (stop_.wait_until(clock_, planned)) {
    const Micros woke = clock_.now();
    delays.push_back(woke - planned);
    // The next wake-up is planned from the timetable, not from when this one happened: a late
    // wake-up is measured once, never carried into the next.
    planned += wake_every;
    if (planned <= woke) planned = woke + wake_every;
    if (woke - window_from >= window) record(woke);
  }
  record(clock_.now());
}

}  // namespace firedrill
