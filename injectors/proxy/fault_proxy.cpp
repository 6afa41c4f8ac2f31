#include "injectors/proxy/fault_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>
#include <set>
#include <optional>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace firedrill {
namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

constexpr std::size_t buffer_capacity = 64 * 1024;
// A connection that keeps making progress yields the loop after this many rounds so one busy
// connection cannot starve the others.
constexpr int max_pump_rounds = 8;
constexpr std::uint64_t listener_token = ~std::uint64_t{0};
constexpr std::uint64_t wake_token = listener_token - 1;
constexpr std::uint64_t timer_token = listener_token - 2;

[[noreturn]] void throw_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
  void reset_with_rst() {
    if (fd_ >= 0) {
      const linger abort_on_close{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    }
    reset();
  }

 private:
  int fd_ = -1;
};

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

bool allowed_ipv4(std::uint32_t host_order) {
  const bool loopback = (host_order >> 24) == 127;
  const bool drill_network = (host_order & 0xFFFE0000u) == 0xC6120000u;  // 198.18.0.0/15
  return loopback || drill_network;
}

Address parse_address(const std::string& host, std::uint16_t port, const char* role) {
  const std::string numeric = host == "localhost" ? "127.0.0.1" : host;
  Address address;
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, numeric.c_str(), &v4) == 1) {
    if (!allowed_ipv4(ntohl(v4.s_addr))) {
      throw std::invalid_argument(fmt::format(
          "fault proxy {} address '{}' is neither loopback nor in 198.18.0.0/15", role, host));
    }
    auto* sin = reinterpret_cast<sockaddr_in*>(&address.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr = v4;
    address.length = sizeof(sockaddr_in);
    return address;
  }
  if (::inet_pton(AF_INET6, numeric.c_str(), &v6) == 1) {
    bool ok = IN6_IS_ADDR_LOOPBACK(&v6);
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      std::uint32_t embedded = 0;
      std::memcpy(&embedded, &v6.s6_addr[12], sizeof embedded);
      ok = allowed_ipv4(ntohl(embedded));
    }
    if (!ok) {
      throw std::invalid_argument(fmt::format(
          "fault proxy {} address '{}' is neither loopback nor in 198.18.0.0/15", role, host));
    }
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = v6;
    address.length = sizeof(sockaddr_in6);
    return address;
  }
  throw std::invalid_argument(fmt::format(
      "fault proxy {} address '{}' is not a numeric IPv4/IPv6 address or 'localhost'", role,
      host));
}

/// The numeric form of a socket address (an IPv4-mapped IPv6 one as IPv4), "" for other families.
std::string numeric_address(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text, sizeof text);
  } else if (address.ss_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6))
      ::inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof text);
    else
      ::inet_ntop(AF_INET6, &v6, text, sizeof text);
  }
  return text;
}

// How long the listener rests when no descriptor is left even to turn a connection away.
constexpr auto listener_rest = std::chrono::milliseconds(100);

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

void set_no_delay(int fd) {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

struct Chunk {
  std::vector<char> bytes;
  std::size_t offset = 0;
  TimePoint release_at;
};

// One direction of a connection: bytes read from `source` waiting to be written to `sink`.
struct Flow {
  explicit Flow(bool upstream) : toward_upstream(upstream) {}
  bool toward_upstream;
  std::deque<Chunk> queue;
  std::size_t pending = 0;
  bool source_eof = false;
  bool sink_shut = false;
  bool sink_full = false;  // the last send would block: the sink's EPOLLOUT, not a timer, resumes it
  TimePoint last_release{};
  bool bucket_started = false;
  double tokens = 0;
  TimePoint tokens_at{};

  [[nodiscard]] bool finished() const { return source_eof && queue.empty() && sink_shut; }
};

struct Connection {
  UniqueFd client;
  UniqueFd upstream;
  bool upstream_connected = false;
  bool dead = false;
  Flow to_upstream{true};
  Flow to_client{false};
};

enum class Side : std::uint64_t { client = 0, upstream = 1 };

// The token bucket's depth: 20 ms of traffic, at least 4 KiB, so a limited flow is smooth at
// the scale of a test yet not written byte by byte.
double bucket_depth(double rate) { return std::max(rate * 0.02, 4096.0); }

}  // namespace

class FaultProxy::Loop {
 public:
  Loop(Address listen, Address upstream) : listen_(listen), upstream_(upstream) {}

  void set_upstream(const Address& upstream) {
    std::lock_guard lock(mutex_);
    upstream_ = upstream;
  }

  Address current_upstream() const {
    std::lock_guard lock(mutex_);
    return upstream_;
  }

  void open() {
    listener_ = UniqueFd(::socket(listen_.storage.ss_family,
                                  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listener_.valid()) throw_errno("fault proxy: socket");
    const int on = 1;
    ::setsockopt(listener_.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&listen_.storage),
               listen_.length) != 0) {
      const int error = errno;
      listener_.reset();
      throw std::system_error(error, std::generic_category(), "fault proxy: bind");
    }
    if (::listen(listener_.get(), 128) != 0) throw_errno("fault proxy: listen");
    spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length);
    port_ = ntohs(bound.ss_family == AF_INET
                      ? reinterpret_cast<const sockaddr_in*>(&bound)->sin_port
                      : reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);

    epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_.valid()) throw_errno("fault proxy: epoll_create1");
    timer_ = UniqueFd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer_.valid()) throw_errno("fault proxy: timerfd_create");
    {
      std::lock_guard lock(mutex_);
      wake_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
      if (!wake_.valid()) throw_errno("fault proxy: eventfd");
      running_ = true;
    }
    watch(listener_.get(), EPOLLIN, listener_token);
    watch(wake_.get(), EPOLLIN, wake_token);
    watch(timer_.get(), EPOLLIN, timer_token);
  }

  void run() {
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

  void request_stop() {
    stopping_.store(true);
    wake();
  }

  // Returns once the loop has adopted the faults (at once if the loop is not running), so they
  // govern every byte that moves after the call.
  void set_faults(const ProxyFaults& faults) {
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(mutex_);
      shared_faults_ = faults;
      shared_faults_.reset_existing = false;
      shared_faults_.seed.reset();
      if (faults.reset_existing) ++reset_requests_;
      if (faults.seed) pending_seed_ = faults.seed;
      generation = ++requested_;
    }
    wake();
    std::unique_lock lock(mutex_);
    adopted_cv_.wait(lock, [&] { return adopted_ >= generation || !running_; });
  }

  [[nodiscard]] ProxyFaults faults() const {
    std::lock_guard lock(mutex_);
    return shared_faults_;
  }

  [[nodiscard]] ProxyCounters counters() const {
    ProxyCounters snapshot;
    snapshot.connections_accepted = accepted_.load();
    snapshot.connections_active = active_.load();
    snapshot.bytes_upstream = bytes_upstream_.load();
    snapshot.bytes_downstream = bytes_downstream_.load();
    snapshot.connections_refused = refused_.load();
    return snapshot;
  }

  [[nodiscard]] std::uint16_t port() const { return port_.load(); }

  // Closes whatever open() left behind when it threw, or what run() did not get to.
  void close_all() {
    connections_.clear();
    active_.store(0);
    listener_.reset();
    spare_.reset();
    timer_.reset();
    epoll_.reset();
    {
      std::lock_guard lock(mutex_);
      wake_.reset();
      running_ = false;
    }
    adopted_cv_.notify_all();
  }

 private:
  void watch(int fd, std::uint32_t mask, std::uint64_t token) {
    epoll_event event{};
    event.events = mask;
    event.data.u64 = token;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) throw_errno("epoll_ctl");
  }

  void rewatch(int fd, std::uint32_t mask, std::uint64_t token) {
    epoll_event event{};
    event.events = mask;
    event.data.u64 = token;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event);
  }

 public:
  void accept_only_from(std::set<std::string> addresses) {
    std::lock_guard lock(mutex_);
    admitted_ = std::move(addresses);
  }
  void set_connection_cap(std::size_t cap) { cap_.store(cap); }
  void on_first_refusal(std::function<void(Refusal, const std::string&)> observer) { observer_ = std::move(observer); }

 private:
  bool admits(const std::string& peer) const {
    std::lock_guard lock(mutex_);
    return !admitted_ || admitted_->count(peer) != 0;
  }

  // Counted and reported before the reset, so whoever sees the reset also sees the refusal.
  void refuse(UniqueFd& client, Refusal reason, const std::string& peer) {
    refused_.fetch_add(1);
    auto& seen = refused_once_[static_cast<std::size_t>(reason)];
    if (!seen && observer_) {
      try {
        observer_(reason, peer);
      } catch (...) {
        // An observer that fails must not take the proxy's loop down with it.
      }
    }
    seen = true;
    client.reset_with_rst();
  }

  /// Out of descriptors, the waiting connection keeps the level-triggered listener ready, and the
  /// loop would spin on it. The spare descriptor makes room to take the connection and reset it;
  /// without one the listener rests for a moment instead.
  void turn_away_for_want_of_descriptors() {
    if (spare_.valid()) {
      spare_.reset();
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof peer;
      UniqueFd client(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_CLOEXEC));
      const bool taken = client.valid();
      if (taken) refuse(client, Refusal::descriptors, numeric_address(peer));
      spare_ = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (taken && spare_.valid()) return;
    }
    listener_resume_at_ = SteadyClock::now() + listener_rest;
    rewatch(listener_.get(), 0, listener_token);
  }

  void wake() {
    std::lock_guard lock(mutex_);
    if (wake_.valid()) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof one);
    }
  }

  void adopt_faults() {
    std::uint64_t resets = 0;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(mutex_);
      faults_ = shared_faults_;
      resets = reset_requests_;
      generation = requested_;
      if (pending_seed_) random_.seed(*std::exchange(pending_seed_, std::nullopt));
    }
    if (resets != resets_done_) {
      resets_done_ = resets;
      for (auto& [id, connection] : connections_) reset_connection(*connection);
      connections_.clear();
      active_.store(0);
    }
    pump_all();
    {
      std::lock_guard lock(mutex_);
      adopted_ = generation;
    }
    adopted_cv_.notify_all();
  }

  void accept_all() {
    for (;;) {
      sockaddr_storage peer_address{};
      socklen_t peer_length = sizeof peer_address;
      UniqueFd client(::accept4(listener_.get(), reinterpret_cast<sockaddr*>(&peer_address), &peer_length,
                                SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!client.valid()) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE) turn_away_for_want_of_descriptors();
        return;  // EAGAIN: nothing more waits
      }
      accepted_.fetch_add(1);
      const std::string peer = numeric_address(peer_address);
      if (!admits(peer)) {
        refuse(client, Refusal::source, peer);
        continue;
      }
      if (connections_.size() >= cap_.load()) {
        refuse(client, Refusal::connection_cap, peer);
        continue;
      }
      if (faults_.refuse) {
        client.reset_with_rst();
        continue;
      }
      auto connection = std::make_unique<Connection>();
      connection->client = std::move(client);
      const Address upstream = current_upstream();
      connection->upstream = UniqueFd(::socket(upstream.storage.ss_family,
                                               SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (!connection->upstream.valid()) {
        connection->client.reset_with_rst();
        continue;
      }
      set_no_delay(connection->client.get());
      set_no_delay(connection->upstream.get());
      const int rc = ::connect(connection->upstream.get(),
                               reinterpret_cast<const sockaddr*>(&upstream.storage),
                               upstream.length);
      if (rc != 0 && errno != EINPROGRESS) {
        connection->client.reset_with_rst();
        continue;
      }
      connection->upstream_connected = rc == 0;
      const std::uint64_t id = next_id_++;
      constexpr std::uint32_t mask = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      watch(connection->client.get(), mask, id << 1);
      watch(connection->upstream.get(), mask, (id << 1) | 1);
      connections_.emplace(id, std::move(connection));
      active_.store(connections_.size());
      pump(id);
    }
  }

  void on_socket_event(std::uint64_t id, Side side, std::uint32_t mask) {
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

  void pump_all() {
    std::vector<std::uint64_t> ids;
    ids.reserve(connections_.size());
    for (const auto& [id, connection] : connections_) ids.push_back(id);
    for (const std::uint64_t id : ids) pump(id);
  }

  // Moves bytes until nothing more can move now; closes the connection when both directions are
  // done, resets it on an error.
  void pump(std::uint64_t id) {
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

  void forget(std::unordered_map<std::uint64_t, std::unique_ptr<Connection>>::iterator it) {
    connections_.erase(it);
    active_.store(connections_.size());
  }

  static void reset_connection(Connection& connection) {
    connection.client.reset_with_rst();
    connection.upstream.reset_with_rst();
  }

  TimePoint release_time(Flow& flow, TimePoint now) {
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
  SteadyClock::duration retransmission_delay(const Flow& flow) {
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
  bool read_into(Connection& connection, Flow& flow, int source) {
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

  bool limited(const Flow& flow) const {
    return faults_.bandwidth_bytes_per_second && *faults_.bandwidth_bytes_per_second > 0 &&
           applies(faults_.direction, flow.toward_upstream);
  }

  void refill(Flow& flow, TimePoint now) const {
    const double rate = *faults_.bandwidth_bytes_per_second;
    const double depth = bucket_depth(rate);
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
  static double quantum(const Flow& flow, double rate) {
    const auto& front = flow.queue.front();
    const double remaining = static_cast<double>(front.bytes.size() - front.offset);
    return std::min(remaining, bucket_depth(rate) / 4);
  }

  bool blackholed(const Flow& flow) const {
    return (faults_.blackhole && applies(faults_.direction, flow.toward_upstream)) ||
           (faults_.loss >= 1 && applies(faults_.loss_direction, flow.toward_upstream));
  }

  // Writes due bytes to `sink` until it would block; shuts the sink's write side once the source
  // has ended and everything is written.
  bool flush(Connection& connection, Flow& flow, int sink) {
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
        if (flow.tokens < quantum(flow, *faults_.bandwidth_bytes_per_second)) break;
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
  std::optional<TimePoint> deadline(const Connection& connection, const Flow& flow,
                                    TimePoint now) const {
    if (flow.queue.empty() || blackholed(flow)) return std::nullopt;
    if (flow.toward_upstream && !connection.upstream_connected) return std::nullopt;
    const Chunk& front = flow.queue.front();
    if (front.release_at > now) return front.release_at;
    if (limited(flow)) {
      const double rate = *faults_.bandwidth_bytes_per_second;
      const double missing = quantum(flow, rate) - flow.tokens;
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

  void arm_timer() {
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

  const Address listen_;
  Address upstream_;  // guarded by mutex_: set_upstream() changes it from another thread
  std::optional<std::set<std::string>> admitted_;  // guarded by mutex_; nullopt admits every peer
  std::atomic<std::size_t> cap_{default_proxy_connection_cap};
  std::function<void(Refusal, const std::string&)> observer_;  // set before start()
  std::array<bool, 3> refused_once_{};
  std::atomic<std::uint64_t> refused_{0};
  UniqueFd spare_;  // a descriptor held back to turn a connection away when none is left
  std::optional<TimePoint> listener_resume_at_;
  UniqueFd listener_;
  UniqueFd epoll_;
  UniqueFd timer_;
  UniqueFd wake_;  // guarded by mutex_: set_faults may run before start() and after stop()
  std::atomic<std::uint16_t> port_{0};
  std::atomic<bool> stopping_{false};

  mutable std::mutex mutex_;
  ProxyFaults shared_faults_;
  std::uint64_t reset_requests_ = 0;
  std::optional<std::uint64_t> pending_seed_;
  std::uint64_t requested_ = 0;
  std::uint64_t adopted_ = 0;
  bool running_ = false;
  std::condition_variable adopted_cv_;

  ProxyFaults faults_;
  std::uint64_t resets_done_ = 0;
  std::optional<TimePoint> armed_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<std::uint64_t> ready_;
  std::uint64_t next_id_ = 1;
  std::array<char, buffer_capacity> scratch_{};
  std::mt19937_64 random_{std::random_device{}()};

  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> active_{0};
  std::atomic<std::uint64_t> bytes_upstream_{0};
  std::atomic<std::uint64_t> bytes_downstream_{0};
};

FaultProxy::FaultProxy(const std::string& listen_host, std::uint16_t listen_port,
                       const std::string& upstream_host, std::uint16_t upstream_port)
    : loop_(std::make_unique<Loop>(parse_address(listen_host, listen_port, "listen"),
                                   parse_address(upstream_host, upstream_port, "upstream"))) {}

FaultProxy::~FaultProxy() { stop(); }

void FaultProxy::start() {
  if (started_) throw std::logic_error("fault proxy already started");
  try {
    loop_->open();
  } catch (...) {
    loop_->close_all();
    throw;
  }
  thread_ = std::thread([this] { loop_->run(); });
  started_ = true;
}

void FaultProxy::stop() {
  if (!thread_.joinable()) return;
  loop_->request_stop();
  thread_.join();
}

std::uint16_t FaultProxy::port() const { return loop_->port(); }

const char* refusal_word(Refusal refusal) {
  switch (refusal) {
    case Refusal::source: return "source";
    case Refusal::connection_cap: return "connection-cap";
    case Refusal::descriptors: return "descriptors";
  }
  return "source";
}

void FaultProxy::accept_only_from(const std::vector<std::string>& addresses) {
  std::set<std::string> numeric;
  for (const auto& address : addresses) numeric.insert(numeric_address(parse_address(address, 0, "source").storage));
  loop_->accept_only_from(std::move(numeric));
}

void FaultProxy::set_connection_cap(std::size_t cap) { loop_->set_connection_cap(cap); }

void FaultProxy::on_first_refusal(std::function<void(Refusal, const std::string& peer)> observer) {
  if (started_) throw std::logic_error("on_first_refusal must be set before start()");
  loop_->on_first_refusal(std::move(observer));
}

void FaultProxy::set_faults(const ProxyFaults& faults) { loop_->set_faults(faults); }

void FaultProxy::set_upstream(const std::string& upstream_host, std::uint16_t upstream_port) {
  loop_->set_upstream(parse_address(upstream_host, upstream_port, "upstream"));
}

ProxyFaults FaultProxy::faults() const { return loop_->faults(); }

ProxyCounters FaultProxy::counters() const { return loop_->counters(); }

}  // namespace firedrill
