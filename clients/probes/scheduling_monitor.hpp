#pragma once
// How late the harness itself is woken. Every figure firedrill reports is a difference of two
// timestamps its own threads took; on a machine too loaded to wake them on time those figures are
// off by about that delay. A thread that asks to wake every 10 ms records how late it woke, once a
// second, as a `harness.scheduling` event; the analysis turns those into the report's
// `measurement_quality` (analysis.hpp).
#include <thread>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "core/stop_signal.hpp"

namespace firedrill {

class SchedulingMonitor {
 public:
  SchedulingMonitor(EventLog& events, const Clock& clock) : events_(events), clock_(clock) {}
  ~SchedulingMonitor() { stop(); }
  SchedulingMonitor(const SchedulingMonitor&) = delete;
  SchedulingMonitor& operator=(const SchedulingMonitor&) = delete;

  void start();
  /// Records the window in progress and stops. Idempotent.
  void stop();

 private:
  void run();

  EventLog& events_;
  const Clock& clock_;
  StopSignal stop_;
  std::thread thread_;
};

}  // namespace firedrill
