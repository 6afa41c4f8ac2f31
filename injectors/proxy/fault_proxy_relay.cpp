// The loop's turns and the relay: epoll's events dispatched; each connection's bytes read and
// written until nothing more can move; the faults applied on the way (latency and jitter, the
// retransmissions of lost chunks, the bandwidth's token bucket, blackholes); the timer armed for
// the next chunk held back. All that runs per event and per chunk is in this file, so it inlines.
#include "injectors/proxy/fault_proxy_loop.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
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

// Takes bytes from a flow's source with `take` (a recv into a chunk, or a splice into the pipe,
// given how many bytes it may take) until the source would block, `limit` bytes are held or the
// source ends. An error other than EAGAIN marks the connection dead.
template <typename Take>
inline bool take_until_blocked(Connection& connection, Flow& flow, std::size_t limit, Take take) {
  bool progress = false;
  while (!flow.source_eof && flow.pending < limit) {
    const ssize_t n = take(limit - flow.pending);
    if (n > 0) {
      flow.pending += static_cast<std::size_t>(n);
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

}  // namespace

void FaultProxy::Loop::run() {
  // A splice into a socket whose peer has gone raises SIGPIPE in the thread that made it (send's
  // MSG_NOSIGNAL has no splice counterpart): blocked here, it stays this thread's and never
  // reaches the process's handler, and the splice fails with EPIPE as a send would.
  sigset_t broken_pipe;
  sigemptyset(&broken_pipe);
  sigaddset(&broken_pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &broken_pipe, nullptr);
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

// Reads from `source` until it would block, the flow's buffer is full or the source ends: spliced
// into the flow's pipe while no fault needs to see the bytes and nothing is queued ahead of them,
// otherwise as chunks (after what the pipe holds, so the order stays).
inline bool FaultProxy::Loop::read_into(Connection& connection, Flow& flow, int source) {
  if (flow.queue.empty() && passes_untouched(flow) && pipe_ready(flow)) return splice_in(connection, flow, source);
  if (flow.piped > 0) unpipe(connection, flow);
  return take_until_blocked(connection, flow, buffer_capacity, [&](std::size_t room) {
    const ssize_t n = ::recv(source, scratch_.data(), room, 0);
    if (n > 0) {
      Chunk chunk;
      chunk.bytes.assign(scratch_.data(), scratch_.data() + n);
      chunk.release_at = release_time(flow, SteadyClock::now());
      flow.queue.push_back(std::move(chunk));
    }
    return n;
  });
}

// No fault of the current set delays, drops, shapes or holds this flow's bytes.
inline bool FaultProxy::Loop::passes_untouched(const Flow& flow) const {
  const bool delayed = applies(faults_.direction, flow.toward_upstream) &&
                       (faults_.latency.count() > 0 || faults_.jitter.count() > 0);
  const bool lossy = faults_.loss > 0 && applies(faults_.loss_direction, flow.toward_upstream);
  return !delayed && !lossy && !limited(flow) && !blackholed(flow);
}

// The flow's pipe, made on its first splice; without a descriptor for it the flow copies.
inline bool FaultProxy::Loop::pipe_ready(Flow& flow) {
  if (flow.pipe_read.valid()) return true;
  if (flow.pipe_unavailable) return false;
  int ends[2];
  if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) {
    flow.pipe_unavailable = true;
    return false;
  }
  flow.pipe_read = UniqueFd(ends[0]);
  flow.pipe_write = UniqueFd(ends[1]);
  ::fcntl(ends[1], F_SETPIPE_SZ, static_cast<int>(pipe_capacity));
  const int size = ::fcntl(ends[1], F_GETPIPE_SZ);
  flow.pipe_size = size > 0 ? static_cast<std::size_t>(size) : buffer_capacity;
  return true;
}

// Moves bytes from `source` into the flow's pipe without copying them here. EAGAIN means the
// source has nothing or the pipe is full (of slots, not necessarily of bytes); either way the
// flow is pumped again once the sink takes what the pipe holds or the source has more.
inline bool FaultProxy::Loop::splice_in(Connection& connection, Flow& flow, int source) {
  return take_until_blocked(connection, flow, flow.pipe_size, [&](std::size_t room) {
    const ssize_t n = ::splice(source, nullptr, flow.pipe_write.get(), nullptr, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) flow.piped += static_cast<std::size_t>(n);
    return n;
  });
}

// Writes what the pipe holds to `sink` until it would block.
inline bool FaultProxy::Loop::splice_out(Connection& connection, Flow& flow, int sink) {
  bool progress = false;
  while (flow.piped > 0) {
    const ssize_t n =
        ::splice(flow.pipe_read.get(), nullptr, sink, nullptr, flow.piped, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      const auto sent = static_cast<std::size_t>(n);
      flow.piped -= sent;
      flow.pending -= sent;
      flow.sink_full = false;
      (flow.toward_upstream ? bytes_upstream_ : bytes_downstream_).fetch_add(sent);
      bytes_spliced_.fetch_add(sent);
      progress = true;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) connection.dead = true;
      flow.sink_full = true;
      break;
    }
  }
  return progress;
}

// A fault now sees this flow: what the pipe holds becomes the first chunks of the queue, due at
// once (it was read before the fault began), so nothing behind it can overtake it.
inline void FaultProxy::Loop::unpipe(Connection& connection, Flow& flow) {
  const TimePoint now = SteadyClock::now();
  while (flow.piped > 0) {
    const ssize_t n = ::read(flow.pipe_read.get(), scratch_.data(), std::min(flow.piped, scratch_.size()));
    if (n > 0) {
      Chunk chunk;
      chunk.bytes.assign(scratch_.data(), scratch_.data() + n);
      chunk.release_at = std::max(now, flow.last_release);
      flow.last_release = chunk.release_at;
      flow.queue.push_back(std::move(chunk));
      flow.piped -= static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      connection.dead = true;
      return;
    }
  }
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
  if (flow.piped > 0) {
    if (passes_untouched(flow)) progress = splice_out(connection, flow, sink);
    else unpipe(connection, flow);
  }
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
  if (flow.queue.empty() && flow.piped == 0 && flow.source_eof && !flow.sink_shut) {
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
