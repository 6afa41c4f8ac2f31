#include "checks/probes/scheduling_monitor.hpp"

#include <algorithm>
#include <vector>

namespace firedrill {
namespace {

constexpr Micros wake_every = 10'000;
constexpr Micros window = 1'000'000;

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
  Micros planned = window_from + wake_every;
  auto record = [&](Micros until) {
    if (delays.empty()) return;
    const auto p99 = delays.begin() + static_cast<std::ptrdiff_t>((delays.size() - 1) * 99 / 100);
    std::nth_element(delays.begin(), p99, delays.end());
    const Micros p99_delay = *p99;
    const Micros max_delay = *std::max_element(delays.begin(), delays.end());
    events_.record_at(until, event_kind::harness_scheduling,
                      {{"from", format_rfc3339_micros(window_from)},
                       {"samples", delays.size()},
                       {"p99_delay_ms", static_cast<double>(p99_delay) / 1000.0},
                       {"max_delay_ms", static_cast<double>(max_delay) / 1000.0}});
    delays.clear();
    window_from = until;
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
