#pragma once
#include <chrono>
#include <cstdint>
#include <thread>

namespace firedrill {

/// Microseconds since the Unix epoch: the unit of every timestamp in events.jsonl and acks.jsonl.
using Micros = std::int64_t;

/// Seconds from one timestamp to another, as reports give them.
inline double seconds_between(Micros from, Micros to) { return static_cast<double>(to - from) / 1e6; }

/// The harness's time source. Timestamps are wall time anchored once when the clock is made and
/// advanced by the monotonic clock, so an NTP step during a drill cannot distort a measured RTO.
class Clock {
 public:
  virtual ~Clock() = default;
  /// Anchored wall time, microseconds since the epoch; never goes backwards.
  virtual Micros now() const = 0;
  /// Sleeps until now() >= deadline (returns at once when it already is).
  virtual void sleep_until(Micros deadline) const = 0;
  void sleep_for(std::chrono::microseconds d) const { sleep_until(now() + d.count()); }
};

/// The real clock: system_clock read once, steady_clock afterwards.
class SteadyAnchoredClock final : public Clock {
 public:
  SteadyAnchoredClock()
      : wall_anchor_(std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count()),
        mono_anchor_(std::chrono::steady_clock::now()) {}

  Micros now() const override {
    auto elapsed = std::chrono::steady_clock::now() - mono_anchor_;
    return wall_anchor_ + std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  }

  void sleep_until(Micros deadline) const override {
    auto target = mono_anchor_ + std::chrono::microseconds(deadline - wall_anchor_);
    std::this_thread::sleep_until(target);
  }

 private:
  Micros wall_anchor_;
  std::chrono::steady_clock::time_point mono_anchor_;
};

/// The process-wide real clock.
inline const Clock& real_clock() {
  static const SteadyAnchoredClock clock;
  return clock;
}

}  // namespace firedrill
