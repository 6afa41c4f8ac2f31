// The loop's turns and the relay: epoll's events dispatched; each connection's bytes read and
// written until nothing more can move; the faults applied on the way (latency and jitter, the
// retransmissions of lost chunks, the bandwidth's token bucket, blackholes); the timer armed for
// the next chunk held back. All that runs per event and per chunk is in this file, so it inlines.
#include "injectors/proxy/fault_proxy_loop.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <random>
#include <vector>

namespace firedrill {
namespace {

// A connection that keeps making progress yields the loop after this many rounds so one busy
// connection cannot starve the others.
constexpr int max_pump_rounds = 8;

bool applies(Direction direction, bool toward_upstream) {
  switch (direction) {
    case Direction::both:
      return true;
    case Direction::upstream_only:
      return toward_upstream;
    case Direction::downstream_only:
      return !toward_upstream;
  }
  return true;
}

// The token bucket's depth unless the faults give one: 20 ms of traffic, at least 4 KiB, so a
// limited flow is smooth at the scale of a test yet not written byte by byte.
double bucket_depth(const ProxyFaults& faults) {
  const double rate = *faults.bandwidth_bytes_per_second;
  if (faults.bandwidth_burst_bytes && *faults.bandwidth_burst_bytes > 0) return *faults.bandwidth_burst_bytes;
  return std::max(rate * 0.02, 4096.0);
}

}  // namespace

void FaultProxy::Loop::run() {
  adopt_faults();
  std::array<epoll_event, 64> events{};
  while (!stopping_.load()) {
    arm_timer();
    int timeout = ready_.empty() ? -1 : 0;
    if (listener_resume_at_ && timeout != 0)
      timeout = static_cast<int>(std::max<std::int64_t>(
          1, std::chrono::ceil<std::chrono::milliseconds>(*listener_resume_at_ - SteadyClock::now()).count()));
    const int count = ::epoll_wait(epoll_.get(), events.data(), events.size(), timeout);
    if (count < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (listener_resume_at_ && SteadyClock::now() >= *listener_resume_at_) {
      listener_resume_at_.reset();
      rewatch(listener_.get(), EPOLLIN, listener_token);
    }
    std::vector<std::uint64_t> again;
    again.swap(ready_);
    for (int i = 0; i < count; ++i) {
      const std::uint64_t token = events[static_cast<std::size_t>(i)].data.u64;
      if (token == listener_token) {
        accept_all();
      } else if (token == wake_token) {
        std::uint64_t ignored = 0;
        [[maybe_unused]] auto n = ::read(wake_.get(), &ignored, sizeof ignored);
        adopt_faults();
      } else if (token == timer_token) {
        std::uint64_t ignored = 0;
        [[maybe_unused]] auto n = ::read(timer_.get(), &ignored, sizeof ignored);
        pump_all();
      } else {
        on_socket_event(token >> 1, static_cast<Side>(token & 1),
                        events[static_cast<std::size_t>(i)].events);
      }
    }
    for (const std::uint64_t id : again) pump(id);
  }
  close_all();
}

inline void FaultProxy::Loop::on_socket_event(std::uint64_t id, Side side, std::uint32_t mask) {
  const auto found = connections_.find(id);
  if (found == connections_.end()) return;
  Connection& connection = *found->second;
  if (side == Side::upstream && !connection.upstream_connected) {
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(connection.upstream.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      connection.dead = true;
    } else if ((mask & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) {
      connection.upstream_connected = true;
    }
  }
  pump(id);
}

void FaultProxy::Loop::pump_all() {
  std::vector<std::uint64_t> ids;
  ids.reserve(connections_.size());
  for (const auto& [id, connection] : connections_) ids.push_back(id);
  for (const std::uint64_t id : ids) pump(id);
}

// Moves bytes until nothing more can move now; closes the connection when both directions are
// done, resets it on an error.
void FaultProxy::Loop::pump(std::uint64_t id) {
  const auto found = connections_.find(id);
  if (found == connections_.end()) return;
  Connection& connection = *found->second;
  bool progress = true;
  int rounds = 0;
  while (progress && !connection.dead && rounds < max_pump_rounds) {
    ++rounds;
    progress = false;
    progress |= read_into(connection, connection.to_upstream, connection.client.get());
    if (connection.upstream_connected) {
      progress |= read_into(connection, connection.to_client, connection.upstream.get());
      progress |= flush(connection, connection.to_upstream, connection.upstream.get());
    }
    progress |= flush(connection, connection.to_client, connection.client.get());
  }
  if (connection.dead) {
    reset_connection(connection);
    forget(found);
  } else if (connection.to_upstream.finished() && connection.to_client.finished()) {
    forget(found);
  } else if (progress) {
    ready_.push_back(id);
  }
}

inline void FaultProxy::Loop::forget(std::unordered_map<std::uint64_t, std::unique_ptr<Connection>>::iterator it) {
  connections_.erase(it);
  active_.store(connections_.size());
}

inline TimePoint FaultProxy::Loop::release_time(Flow& flow, TimePoint now) {
  TimePoint release = now;
  if (applies(faults_.direction, flow.toward_upstream) &&
      (faults_.latency.count() > 0 || faults_.jitter.count() > 0)) {
    auto delay = faults_.latency;
    if (faults_.jitter.count() > 0) {
      std::uniform_int_distribution<std::int64_t> draw(-faults_.jitter.count(),
                                                       faults_.jitter.count());
      delay += std::chrono::microseconds(draw(random_));
    }
    release += std::max(delay, std::chrono::microseconds(0));
  }
  release += retransmission_delay(flow);
  release = std::max(release, flow.last_release);
  flow.last_release = release;
  return release;
}

// How long a chunk waits for its retransmissions: one draw per transmission, each loss adding a
// timeout twice the previous one. A loss of 1 draws nothing: the flow is blackholed instead.
inline SteadyClock::duration FaultProxy::Loop::retransmission_delay(const Flow& flow) {
  if (faults_.loss <= 0 || faults_.loss >= 1 ||
      !applies(faults_.loss_direction, flow.toward_upstream))
    return SteadyClock::duration::zero();
  std::bernoulli_distribution lost(faults_.loss);
  SteadyClock::duration waited = SteadyClock::duration::zero();
  SteadyClock::duration timeout = loss_rto;
  for (int attempt = 0; attempt < loss_max_retransmissions && lost(random_); ++attempt) {
    waited += timeout;
    timeout = std::min<SteadyClock::duration>(timeout * 2, loss_rto_cap);
  }
  return waited;
}

// Reads from `source` until it would block, the flow's buffer is full or the source ends.
inline bool FaultProxy::Loop::read_into(Connection& connection, Flow& flow, int source) {
  bool progress = false;
  while (!flow.source_eof && flow.pending < buffer_capacity) {
    const ssize_t n = ::recv(source, scratch_.data(), buffer_capacity - flow.pending, 0);
    if (n > 0) {
      const auto size = static_cast<std::size_t>(n);
      Chunk chunk;
      chunk.bytes.assign(scratch_.data(), scratch_.data() + size);
      chunk.release_at = release_time(flow, SteadyClock::now());
      flow.queue.push_back(std::move(chunk));
      flow.pending += size;
      progress = true;
    } else if (n == 0) {
      flow.source_eof = true;
      progress = true;
    } else if (errno == EINTR) {
      continue;
    } else {
      if (errno != EAGAIN && errno != EWOULDBLOCK) connection.dead = true;
      break;
    }
  }
  return progress;
}

inline bool FaultProxy::Loop::limited(const Flow& flow) const {
  return faults_.bandwidth_bytes_per_second && *faults_.bandwidth_bytes_per_second > 0 &&
         applies(faults_.bandwidth_direction, flow.toward_upstream);
}

inline void FaultProxy::Loop::refill(Flow& flow, TimePoint now) const {
  const double rate = *faults_.bandwidth_bytes_per_second;
  const double depth = bucket_depth(faults_);
  if (!flow.bucket_started) {
    flow.bucket_started = true;
    flow.tokens = depth;
  } else {
    const double elapsed = std::chrono::duration<double>(now - flow.tokens_at).count();
    flow.tokens = std::min(depth, flow.tokens + elapsed * rate);
  }
  flow.tokens_at = now;
}

// The fewest bytes a limited flow waits for before it writes, so it writes in slices.
inline double FaultProxy::Loop::quantum(const Flow& flow, const ProxyFaults& faults) {
  const auto& front = flow.queue.front();
  const double remaining = static_cast<double>(front.bytes.size() - front.offset);
  return std::min(remaining, bucket_depth(faults) / 4);
}

inline bool FaultProxy::Loop::blackholed(const Flow& flow) const {
  return (faults_.blackhole && applies(faults_.direction, flow.toward_upstream)) ||
         (faults_.loss >= 1 && applies(faults_.loss_direction, flow.toward_upstream));
}

// Writes due bytes to `sink` until it would block; shuts the sink's write side once the source
// has ended and everything is written.
inline bool FaultProxy::Loop::flush(Connection& connection, Flow& flow, int sink) {
  if (blackholed(flow)) return false;
  bool progress = false;
  const TimePoint now = SteadyClock::now();
  if (!limited(flow)) flow.bucket_started = false;
  while (!flow.queue.empty()) {
    Chunk& front = flow.queue.front();
    if (front.release_at > now) break;
    std::size_t want = front.bytes.size() - front.offset;
    const bool is_limited = limited(flow);
    if (is_limited) {
      refill(flow, now);
      if (flow.tokens < quantum(flow, faults_)) break;
      want = std::min(want, static_cast<std::size_t>(flow.tokens));
    }
    const ssize_t n = ::send(sink, front.bytes.data() + front.offset, want, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) connection.dead = true;
      flow.sink_full = true;
      break;
    }
    const auto sent = static_cast<std::size_t>(n);
    flow.sink_full = sent < want;
    front.offset += sent;
    flow.pending -= sent;
    if (is_limited) flow.tokens -= static_cast<double>(sent);
    (flow.toward_upstream ? bytes_upstream_ : bytes_downstream_).fetch_add(sent);
    progress = true;
    if (front.offset == front.bytes.size()) flow.queue.pop_front();
    if (sent < want) break;
  }
  if (flow.queue.empty() && flow.source_eof && !flow.sink_shut) {
    ::shutdown(sink, SHUT_WR);
    flow.sink_shut = true;
    progress = true;
  }
  return progress;
}

// The earliest moment some held chunk becomes due or a limited flow has tokens again.
inline std::optional<TimePoint> FaultProxy::Loop::deadline(const Connection& connection, const Flow& flow,
                                                           TimePoint now) const {
  if (flow.queue.empty() || blackholed(flow)) return std::nullopt;
  if (flow.toward_upstream && !connection.upstream_connected) return std::nullopt;
  const Chunk& front = flow.queue.front();
  if (front.release_at > now) return front.release_at;
  if (limited(flow)) {
    const double rate = *faults_.bandwidth_bytes_per_second;
    const double missing = quantum(flow, faults_) - flow.tokens;
    if (missing > 0) {
      return now + std::chrono::duration_cast<SteadyClock::duration>(
                       std::chrono::duration<double>(missing / rate));
    }
  }
  // Due already: a chunk held for microseconds can come due after the loop's last attempt to
  // send it; the timer then fires at once. One the sink refused waits for the sink instead.
  if (!flow.sink_full) return front.release_at;
  return std::nullopt;
}

inline void FaultProxy::Loop::arm_timer() {
  const TimePoint now = SteadyClock::now();
  std::optional<TimePoint> earliest;
  for (const auto& [id, connection] : connections_) {
    for (const Flow* flow : {&connection->to_upstream, &connection->to_client}) {
      const auto due = deadline(*connection, *flow, now);
      if (due && (!earliest || *due < *earliest)) earliest = due;
    }
  }
  // Rearming costs a system call per loop turn; pass-through traffic never needs the timer.
  if (earliest == armed_) return;
  armed_ = earliest;
  itimerspec spec{};
  if (earliest) {
    const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(
        earliest->time_since_epoch());
    const auto nanos = std::max<std::int64_t>(since_epoch.count(), 1);
    spec.it_value.tv_sec = static_cast<time_t>(nanos / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(nanos % 1'000'000'000);
  }
  ::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
}

}  // namespace firedrill
