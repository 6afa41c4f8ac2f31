#pragma once
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "core/clock.hpp"

namespace firedrill {

/// Tells the threads of a loop (writers, probes) to stop, and lets them sleep until a time
/// without missing that request.
class StopSignal {
 public:
  void request() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    requested_.notify_all();
  }
  void reset() {
    std::lock_guard lock(mutex_);
    stopping_ = false;
  }
  bool requested() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }
  /// Waits until the clock reaches t; false when a stop was requested first.
  bool wait_until(const Clock& clock, Micros t) {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const Micros left = t - clock.now();
      if (left <= 0) return true;
      requested_.wait_for(lock, std::chrono::microseconds(left));
    }
    return false;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable requested_;
  bool stopping_ = false;
};

}  // namespace firedrill
