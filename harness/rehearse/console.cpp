#include "harness/rehearse/console.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "core/interrupt.hpp"

namespace firedrill {
namespace {

constexpr auto frame_interval = std::chrono::milliseconds(200);
constexpr auto condition_interval = std::chrono::milliseconds(250);
constexpr std::size_t kept_notes = 64;

/// What both faces share: the current step, the task waiting for the person, the answers given,
/// and the figures of the drill.
class RehearsalOperator : public Operator {
 public:
  RehearsalOperator(const Scenario& scenario, const Clock& clock, int input_fd)
      : scenario_(scenario), clock_(clock), input_fd_(input_fd) {}

  void note(const std::string& text) override {
    std::lock_guard lock(mutex_);
    notes_.push_back({clock_.now(), text});
    if (notes_.size() > kept_notes) notes_.pop_front();
    on_note(text);
  }
  void step(std::size_t index, const StepSpec& spec) override {
    std::lock_guard lock(mutex_);
    step_index_ = index;
    step_name_ = spec.name;
    step_started_ = clock_.now();
    phase_ = "drill";
    on_step(index, spec);
  }
  void step_done(std::size_t index, const StepSpec& spec, const std::string& outcome, const std::string& error) override {
    std::lock_guard lock(mutex_);
    on_step_done(index, spec, outcome, error, clock_.now() - step_started_);
  }
  void set_status(std::function<std::string()>) override {}
  void finish() override {
    std::lock_guard lock(mutex_);
    phase_ = "finishing";
    step_name_.clear();
  }
  void observe(std::function<Telemetry()> telemetry) override {
    std::lock_guard lock(mutex_);
    telemetry_ = std::move(telemetry);
    if (!telemetry_) {
      phase_ = "finishing";
      step_name_.clear();
    }
  }

  HumanVerdict perform(const HumanTask& task) override {
    auto telemetry = sample_telemetry();
    std::unique_lock lock(mutex_);
    if (telemetry) last_incident_ = incident_of(telemetry->events);
    task_ = task;
    step_started_ = clock_.now();
    on_task_shown(task);
    std::optional<HumanVerdict> verdict;
    Micros next_check = 0;
    while (!verdict) {
      if (interrupted()) {
        verdict = HumanVerdict::aborted;
        break;
      }
      if (auto answer = take_answer(task)) {
        verdict = answer;
        break;
      }
      if (task.condition && clock_.now() >= next_check) {
        next_check = clock_.now() + std::chrono::duration_cast<std::chrono::microseconds>(condition_interval).count();
        lock.unlock();
        bool holds = false;
        try {
          holds = task.condition();
        } catch (const std::exception&) {
          holds = false;
        }
        lock.lock();
        if (holds) {
          verdict = HumanVerdict::completed_by_itself;
          break;
        }
      } else if (!task.condition && input_closed_) {
        on_nobody_left();
        verdict = HumanVerdict::aborted;
        break;
      }
      wake_.wait_for(lock, std::chrono::milliseconds(50));
    }
    task_.reset();
    on_task_ended(task, *verdict);
    lock.unlock();
    if (*verdict == HumanVerdict::aborted) request_interrupt();
    return *verdict;
  }

 protected:
  struct Note {
    Micros t;
    std::string text;
  };

  // Hooks called with mutex_ held.
  virtual void on_note(const std::string&) {}
  virtual void on_step(std::size_t, const StepSpec&) {}
  virtual void on_step_done(std::size_t, const StepSpec&, const std::string&, const std::string&, Micros) {}
  virtual void on_task_shown(const HumanTask&) {}
  virtual void on_task_ended(const HumanTask&, HumanVerdict) {}
  virtual void on_nobody_left() {}
  /// The next answer that applies to `task`, if one was given.
  virtual std::optional<HumanVerdict> take_answer(const HumanTask& task) = 0;

  /// Telemetry now, taken without holding mutex_ (the drill's own locks are taken inside).
  std::optional<Telemetry> sample_telemetry() {
    std::function<Telemetry()> source;
    {
      std::lock_guard lock(mutex_);
      source = telemetry_;
    }
    if (!source) return std::nullopt;
    try {
      return source();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  static std::optional<Micros> incident_of(const std::vector<Event>& events) {
    for (const auto& event : events)
      if (event.kind == event_kind::incident) return event.t;
    return std::nullopt;
  }

  static std::optional<Micros> recovery_of(const std::vector<Event>& events, Micros incident) {
    for (const auto& event : events)
      if (event.kind == event_kind::step_finished && event.t > incident && event.details.value("verb", "") == "await" &&
          event.details.value("outcome", "") == "ok")
        return event.t;
    return std::nullopt;
  }

  /// The screen for `telemetry` (mutex_ held).
  ScreenState build_state(const std::optional<Telemetry>& telemetry, Micros now) {
    ScreenState state;
    state.scenario = scenario_.name;
    state.phase = phase_;
    state.now = now;
    auto target = scenario_.targets.find("overall");
    if (target != scenario_.targets.end()) state.rto_target = target->second.rto;
    state.step_count = scenario_.steps.size();
    state.step_index = step_index_;
    state.step_name = step_name_;
    state.step_started = step_started_;
    if (step_index_ < scenario_.steps.size() && !step_name_.empty()) state.budget = scenario_.steps[step_index_].budget;
    if (task_) {
      state.human = true;
      state.instruction = task_->instruction;
      state.commands = task_->commands;
      state.until = task_->until;
      state.automatable = task_->automatable;
      state.budget = task_->budget;
    }
    state.help = help_;
    std::vector<std::pair<Micros, std::string>> lines;
    Micros origin = notes_.empty() ? now : notes_.front().t;
    if (telemetry) {
      for (const auto& event : telemetry->events) {
        if (event.kind == event_kind::run_started) {
          state.run_id = event.details.value("run_id", "");
          origin = event.t;
        }
      }
      state.incident_at = incident_of(telemetry->events);
      if (state.incident_at) state.recovered_at = recovery_of(telemetry->events, *state.incident_at);
      state.probes = telemetry->probes;
      state.acked = telemetry->acked;
      state.failed = telemetry->failed;
      samples_.push_back({now, telemetry->acked, telemetry->failed});
      while (samples_.size() > 2 && now - samples_[1].t >= 1'000'000) samples_.pop_front();
      const auto& oldest = samples_.front();
      if (now - oldest.t > 0) {
        const double seconds = static_cast<double>(now - oldest.t) / 1e6;
        state.acked_per_second = static_cast<double>(telemetry->acked - oldest.acked) / seconds;
        state.failed_per_second = static_cast<double>(telemetry->failed - oldest.failed) / seconds;
      }
      // The harness's notes on its own timing are for the report, not for the person acting: on a
      // loaded machine they would push the steps' events off the screen.
      for (const auto& event : telemetry->events)
        if (event.kind != event_kind::run_started && event.kind != event_kind::harness_scheduling)
          lines.emplace_back(event.t, event_line(event, origin));
      last_run_id_ = state.run_id;
      last_incident_ = state.incident_at;
      last_recovery_ = state.recovered_at;
      last_probes_ = state.probes;
    } else {
      state.run_id = last_run_id_;
      state.incident_at = last_incident_;
      state.recovered_at = last_recovery_;
      state.probes = last_probes_;
    }
    for (const auto& note : notes_) lines.emplace_back(note.t, fmt::format("{:>8} {}", clock_text(note.t - origin), note.text));
    std::stable_sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [t, line] : lines) state.last_events.push_back(std::move(line));
    return state;
  }

  struct Sample {
    Micros t;
    std::int64_t acked, failed;
  };

  const Scenario& scenario_;
  const Clock& clock_;
  int input_fd_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::function<Telemetry()> telemetry_;
  std::deque<Note> notes_;
  std::deque<Sample> samples_;
  std::string phase_ = "starting";
  std::size_t step_index_ = 0;
  std::string step_name_;
  Micros step_started_ = 0;
  std::optional<HumanTask> task_;
  bool help_ = false;
  bool input_closed_ = false;
  std::string last_run_id_;
  std::optional<Micros> last_incident_, last_recovery_;
  std::vector<std::pair<std::string, bool>> last_probes_;
};

std::string budget_judgement(const std::optional<Duration>& budget, Micros took) {
  if (!budget) return fmt::format("{}", clock_text(took));
  return fmt::format("{} of budget {}, {}", clock_text(took), clock_text(budget->count()),
                     took > budget->count() ? "OVER" : "under");
}

class LineOperator final : public RehearsalOperator {
 public:
  LineOperator(const Scenario& scenario, const Clock& clock, int input_fd, std::ostream& output)
      : RehearsalOperator(scenario, clock, input_fd), output_(output) {
    reader_ = std::thread([this] { read_lines(); });
  }
  ~LineOperator() override {
    stopping_ = true;
    reader_.join();
  }

 private:
  void on_note(const std::string& text) override { output_ << text << "\n" << std::flush; }
  void on_step(std::size_t index, const StepSpec& spec) override {
    output_ << fmt::format("step {}/{} {}\n", index + 1, scenario_.steps.size(), spec.name) << std::flush;
  }
  void on_step_done(std::size_t, const StepSpec& spec, const std::string& outcome, const std::string& error,
                    Micros took) override {
    std::string line = fmt::format("  {} — {}", spec.name, outcome);
    if (!error.empty()) line += ": " + error;
    if (spec.budget) line += fmt::format(" ({})", budget_judgement(spec.budget, took));
    output_ << line << "\n" << std::flush;
  }
  void on_task_shown(const HumanTask& task) override {
    std::string text = fmt::format("\n=== your step {}/{}: {} ===\n", task.index + 1, task.step_count, task.name);
    if (last_incident_) text += fmt::format("RTO clock: {} since the incident\n", clock_text(clock_.now() - *last_incident_));
    if (task.budget) text += fmt::format("Budget: {}\n", clock_text(task.budget->count()));
    text += task.instruction + "\n";
    for (const auto& command : task.commands) text += "  $ " + command + "\n";
    if (!task.until.empty()) text += fmt::format("Done by itself when {}.\n", task.until);
    text += fmt::format("Press Enter when done; s + Enter skips{}; a + Enter aborts.\n",
                        task.automatable ? "; r + Enter lets firedrill do it" : "");
    output_ << text << std::flush;
  }
  void on_task_ended(const HumanTask& task, HumanVerdict verdict) override {
    output_ << fmt::format("  {}: {} after {}\n", task.name, verdict_word(verdict),
                           budget_judgement(task.budget, clock_.now() - step_started_))
            << std::flush;
  }
  void on_nobody_left() override {
    output_ << "The input ended and this step cannot complete by itself: aborting the rehearsal.\n" << std::flush;
  }
  std::optional<HumanVerdict> take_answer(const HumanTask& task) override {
    while (!answers_.empty()) {
      std::string answer = answers_.front();
      answers_.pop_front();
      if (answer.empty()) return HumanVerdict::done;
      if (answer == "s") return HumanVerdict::skipped;
      if (answer == "a") return HumanVerdict::aborted;
      if (answer == "r" && task.automatable) return HumanVerdict::performed_by_firedrill;
      output_ << fmt::format("'{}' is not an answer: Enter, s, {}a\n", answer, task.automatable ? "r, " : "") << std::flush;
    }
    return std::nullopt;
  }

  void read_lines() {
    std::string pending;
    while (!stopping_) {
      pollfd ready{input_fd_, POLLIN, 0};
      if (::poll(&ready, 1, 100) <= 0) continue;
      char buffer[256];
      const ssize_t got = ::read(input_fd_, buffer, sizeof buffer);
      std::lock_guard lock(mutex_);
      if (got <= 0) {
        input_closed_ = true;
        wake_.notify_all();
        return;
      }
      pending.append(buffer, static_cast<std::size_t>(got));
      for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
        std::string line = pending.substr(0, newline);
        pending.erase(0, newline + 1);
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        while (!line.empty() && line.front() == ' ') line.erase(0, 1);
        for (auto& c : line) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        answers_.push_back(line);
      }
      wake_.notify_all();
    }
  }

  std::ostream& output_;
  std::deque<std::string> answers_;
  std::atomic<bool> stopping_{false};
  std::thread reader_;
};

class TerminalOperator final : public RehearsalOperator {
 public:
  TerminalOperator(const Scenario& scenario, const Clock& clock, int terminal_fd)
      : RehearsalOperator(scenario, clock, terminal_fd) {
    if (::tcgetattr(terminal_fd, &saved_) != 0) throw std::runtime_error("the rehearsal view needs a terminal");
    termios raw = saved_;
    // Single keys without echo; ISIG stays on so Ctrl-C still stops the drill through its handler.
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    ::tcsetattr(terminal_fd, TCSANOW, &raw);
    emit("\033[?1049h\033[?25l\033[2J");
    reader_ = std::thread([this] { read_keys(); });
    painter_ = std::thread([this] { paint(); });
  }
  ~TerminalOperator() override {
    stopping_ = true;
    wake_.notify_all();
    painter_.join();
    reader_.join();
    emit("\033[0m\033[?25h\033[?1049l");
    ::tcsetattr(input_fd_, TCSANOW, &saved_);
  }

 private:
  void emit(const std::string& text) {
    std::size_t written = 0;
    while (written < text.size()) {
      const ssize_t n = ::write(input_fd_, text.data() + written, text.size() - written);
      if (n <= 0) return;
      written += static_cast<std::size_t>(n);
    }
  }

  std::optional<HumanVerdict> take_answer(const HumanTask& task) override {
    while (!keys_.empty()) {
      const char key = keys_.front();
      keys_.pop_front();
      if (key == '\r' || key == '\n') return HumanVerdict::done;
      if (key == 's' || key == 'S') return HumanVerdict::skipped;
      if ((key == 'r' || key == 'R') && task.automatable) return HumanVerdict::performed_by_firedrill;
    }
    return std::nullopt;
  }

  void read_keys() {
    while (!stopping_) {
      pollfd ready{input_fd_, POLLIN, 0};
      if (::poll(&ready, 1, 100) <= 0) continue;
      char buffer[64];
      const ssize_t got = ::read(input_fd_, buffer, sizeof buffer);
      if (got <= 0) continue;
      std::lock_guard lock(mutex_);
      for (ssize_t i = 0; i < got; ++i) {
        const char key = buffer[i];
        if (key == '\033') break;  // an arrow or function key: its sequence means nothing here
        if (key == '?') {
          help_ = !help_;
        } else if (key == 'a' || key == 'A') {
          notes_.push_back({clock_.now(), "abort requested: reverting faults and tearing down"});
          request_interrupt();
        } else if (task_) {
          // Keys pressed while no step waits for the person are dropped, not saved for the next one.
          keys_.push_back(key);
        }
      }
      wake_.notify_all();
    }
  }

  void paint() {
    while (!stopping_) {
      auto telemetry = sample_telemetry();
      winsize size{};
      int width = 80, height = 24;
      if (::ioctl(input_fd_, TIOCGWINSZ, &size) == 0 && size.ws_col > 0 && size.ws_row > 0) {
        width = size.ws_col;
        height = size.ws_row;
      }
      std::string frame = "\033[H";
      {
        std::lock_guard lock(mutex_);
        auto lines = render_screen(build_state(telemetry, clock_.now()), width, height);
        for (std::size_t i = 0; i < lines.size(); ++i) frame += lines[i] + "\033[0m\033[K" + (i + 1 < lines.size() ? "\r\n" : "");
      }
      // Written without the lock: a stalled terminal (a slow SSH link) must not stall the drill.
      emit(frame);
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, frame_interval, [this] { return stopping_.load(); });
    }
  }

  termios saved_{};
  std::deque<char> keys_;
  std::atomic<bool> stopping_{false};
  std::thread reader_;
  std::thread painter_;
};

class ForwardingProgress final : public Progress {
 public:
  explicit ForwardingProgress(Operator& target) : target_(target) {}
  void note(const std::string& text) override { target_.note(text); }
  void step(std::size_t index, const StepSpec& spec) override { target_.step(index, spec); }
  void step_done(std::size_t index, const StepSpec& spec, const std::string& outcome, const std::string& error) override {
    target_.step_done(index, spec, outcome, error);
  }
  void set_status(std::function<std::string()> status) override { target_.set_status(std::move(status)); }
  void finish() override { target_.finish(); }

 private:
  Operator& target_;
};

}  // namespace

std::unique_ptr<Progress> forward_progress(Operator& target) { return std::make_unique<ForwardingProgress>(target); }

std::unique_ptr<Operator> make_terminal_operator(const Scenario& scenario, const Clock& clock, int terminal_fd) {
  return std::make_unique<TerminalOperator>(scenario, clock, terminal_fd);
}

std::unique_ptr<Operator> make_line_operator(const Scenario& scenario, const Clock& clock, int input_fd,
                                             std::ostream& output) {
  return std::make_unique<LineOperator>(scenario, clock, input_fd, output);
}

}  // namespace firedrill
