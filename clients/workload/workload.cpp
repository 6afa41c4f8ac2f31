#include "clients/workload/workload.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "core/stop_signal.hpp"

namespace firedrill {
namespace {

// A closed-loop thread pauses this long after a failure, so an outage is not a flood of failures.
constexpr Micros closed_loop_failure_pause = 5'000;

}  // namespace

WriteTarget write_target(const WriterConfig& writer) {
  return WriteTarget{writer.request, writer.host,     writer.port,   writer.conninfo,
                     writer.sentinel, writer.password, writer.timeout};
}

std::string write_id(const WriterConfig& writer, std::int64_t n) {
  if (writer.id_prefix.empty()) return fmt::format("{}-{}", writer.name, n);
  return fmt::format("{}-{}-{}", writer.id_prefix, writer.name, n);
}

struct Workload::Shared {
  StopSignal stop;
  Micros started_at = 0;
  std::vector<std::unique_ptr<std::atomic<std::int64_t>>> issued;  // per writer
};

Workload::Workload(std::vector<WriterConfig> writers, AckLog& acks, EventLog& events, const Clock& clock)
    : writers_(std::move(writers)), acks_(acks), events_(events), clock_(clock), shared_(std::make_unique<Shared>()) {
  for (const WriterConfig& writer : writers_) {
    const std::string& kind = writer.request.kind;
    if (kind != "http" && kind != "sql" && kind != "redis") {
      throw std::invalid_argument(fmt::format("writer '{}': unknown kind '{}'", writer.name, kind));
    }
    if (writer.concurrency < 1) {
      throw std::invalid_argument(fmt::format("writer '{}': concurrency must be at least 1", writer.name));
    }
    shared_->issued.push_back(std::make_unique<std::atomic<std::int64_t>>(0));
  }
}

Workload::~Workload() {
  try {
    stop();
  } catch (...) {
    // A destructor only cleans up; the recorded history already holds every write.
  }
}

void Workload::start() {
  if (started_) return;
  for (const WriterConfig& writer : writers_) prepare_write_target(write_target(writer));
  started_ = true;
  shared_->started_at = clock_.now();
  nlohmann::json names = nlohmann::json::array();
  for (const WriterConfig& writer : writers_) names.push_back(writer.name);
  events_.record_at(shared_->started_at, event_kind::workload_started, {{"writers", names}});
  for (std::size_t w = 0; w < writers_.size(); ++w) {
    for (int k = 0; k < writers_[w].concurrency; ++k) threads_.emplace_back([this, w, k] { run_thread(w, k); });
  }
}

void Workload::stop() {
  if (!started_) return;
  shared_->stop.request();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
  started_ = false;
  events_.record(event_kind::workload_stopped, {{"acked", acked()}, {"failed", failed()}});
}

void Workload::run_thread(std::size_t writer_index, int thread_index) {
  const WriterConfig& config = writers_[writer_index];
  std::atomic<std::int64_t>& issued = *shared_->issued[writer_index];
  const Micros ends_at = shared_->started_at + std::chrono::duration_cast<std::chrono::microseconds>(config.max_duration).count();
  const bool open_loop = config.rate_per_second > 0;
  const Micros interval =
      open_loop ? std::max<Micros>(1, std::llround(1e6 * config.concurrency / config.rate_per_second)) : 0;
  // Threads are staggered across one interval so the writer's rate is smooth.
  Micros slot = shared_->started_at + (open_loop ? interval * thread_index / config.concurrency : 0);

  std::unique_ptr<RequestWriter> writer;
  try {
    writer = make_request_writer(write_target(config));
  } catch (const std::exception& e) {
    events_.record("workload.error", {{"writer", config.name}, {"error", e.what()}});
    return;
  }

  while (!shared_->stop.requested()) {
    if (open_loop && !shared_->stop.wait_until(clock_, slot)) break;
    if (clock_.now() >= ends_at) break;
    const std::int64_t n = ++issued;
    if (n > config.max_writes) break;

    Ack ack;
    ack.id = write_id(config, n);
    ack.writer = config.name;
    ack.sent = clock_.now();
    const std::string sent_text = format_rfc3339_micros(ack.sent);
    WriteResult result = writer->write(WriteVariables{ack.id, n, sent_text});
    const Micros answered = clock_.now();
    ack.outcome = result.outcome;
    ack.error = std::move(result.error);
    if (!result.id_from_answer.empty()) ack.id = std::move(result.id_from_answer);
    if (ack.outcome == WriteOutcome::ok) {
      ack.acked = answered;
      ++acked_;
    } else {
      ++failed_;
    }
    acks_.record(ack);

    if (open_loop) {
      slot += interval;
      if (answered > slot) slot += (answered - slot + interval - 1) / interval * interval;
    } else if (ack.outcome != WriteOutcome::ok) {
      if (!shared_->stop.wait_until(clock_, answered + closed_loop_failure_pause)) break;
    }
  }
}

}  // namespace firedrill
