#include "harness/rehearse/progress.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "reports/writers.hpp"

namespace firedrill {
namespace {

class SilentProgress final : public Progress {
 public:
  void note(const std::string&) override {}
  void step(std::size_t, const StepSpec&) override {}
  void step_done(std::size_t, const StepSpec&, const std::string&, const std::string&) override {}
  void set_status(std::function<std::string()>) override {}
  void finish() override {}
};

/// Plain lines, for logs and CI.
class LineProgress : public Progress {
 public:
  LineProgress(const Scenario& scenario, const Clock& clock, std::string prefix = "")
      : scenario_(scenario), clock_(clock), started_(clock.now()), prefix_(std::move(prefix)) {}

  void note(const std::string& text) override { print(text); }
  void step(std::size_t index, const StepSpec& spec) override {
    std::lock_guard lock(mutex_);
    current_ = fmt::format("step {}/{} {}", index + 1, scenario_.steps.size(), spec.name);
    print_locked(current_);
  }
  void step_done(std::size_t, const StepSpec& spec, const std::string& outcome, const std::string& error) override {
    print(error.empty() ? fmt::format("  {} — {}", spec.name, outcome) : fmt::format("  {} — {}: {}", spec.name, outcome, error));
  }
  void set_status(std::function<std::string()> status) override {
    std::lock_guard lock(mutex_);
    status_ = std::move(status);
  }
  void finish() override {}

 protected:
  void print(const std::string& text) {
    std::lock_guard lock(mutex_);
    print_locked(text);
  }
  virtual void print_locked(const std::string& text) {
    // One fprintf per line: stdio locks the stream, so lines of drills running at once never mix.
    // Step errors quote containers, whose bytes may not steer the terminal (terminal_text).
    std::fprintf(stderr, "%s[%7.2fs] %s\n", terminal_text(prefix_).c_str(), elapsed(), terminal_text(text).c_str());
  }
  double elapsed() const { return static_cast<double>(clock_.now() - started_) / 1e6; }

  const Scenario& scenario_;
  const Clock& clock_;
  Micros started_;
  std::string prefix_;
  std::mutex mutex_;
  std::string current_;
  std::function<std::string()> status_;
};

/// One status line redrawn five times a second above the scrolling notes.
class LiveProgress final : public LineProgress {
 public:
  LiveProgress(const Scenario& scenario, const Clock& clock) : LineProgress(scenario, clock) {
    painter_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!stopping_) {
        redraw_locked();
        wake_.wait_for(lock, std::chrono::milliseconds(200));
      }
    });
  }
  ~LiveProgress() override { finish(); }

  void finish() override {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
      std::fprintf(stderr, "\r\033[K");
    }
    wake_.notify_all();
    painter_.join();
  }

 private:
  void print_locked(const std::string& text) override {
    std::fprintf(stderr, "\r\033[K[%7.2fs] %s\n", elapsed(), terminal_text(text).c_str());
    redraw_locked();
  }
  void redraw_locked() {
    std::string status = status_ ? status_() : "";
    std::fprintf(stderr, "\r\033[K\033[1m%7.2fs\033[0m  %s  %s", elapsed(), terminal_text(current_).c_str(),
                 terminal_text(status).c_str());
    std::fflush(stderr);
  }

  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread painter_;
};

}  // namespace

std::unique_ptr<Progress> make_progress(ProgressStyle style, const Scenario& scenario, const Clock& clock,
                                        const std::string& prefix) {
  switch (style) {
    case ProgressStyle::none: return std::make_unique<SilentProgress>();
    case ProgressStyle::lines: return std::make_unique<LineProgress>(scenario, clock, prefix);
    case ProgressStyle::live: return std::make_unique<LiveProgress>(scenario, clock);
  }
  return std::make_unique<SilentProgress>();
}

}  // namespace firedrill
