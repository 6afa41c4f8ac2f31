#pragma once
// The loop behind FaultProxy, private to the proxy, and what the files that implement it share:
// fault_proxy_loop.cpp holds FaultProxy's calls, the addresses they take, the loop's opening and
// closing and the faults other threads hand it; fault_proxy_listener.cpp accepts and refuses
// connections; fault_proxy_relay.cpp runs the loop's turns, which move each connection's bytes
// under the faults. FaultProxy's own functions are in fault_proxy_loop.cpp rather than a
// fault_proxy.cpp because this header includes fault_proxy.hpp: the two would include each other.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "injectors/proxy/fault_proxy.hpp"

namespace firedrill {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

inline constexpr std::size_t buffer_capacity = 64 * 1024;
// What a flow's pipe may hold: larger batches than the copying path's buffer, as the bytes cost
// this process nothing (F_SETPIPE_SZ; the kernel's default of 64 KiB when refused).
inline constexpr std::size_t pipe_capacity = 256 * 1024;
inline constexpr std::uint64_t listener_token = ~std::uint64_t{0};
inline constexpr std::uint64_t wake_token = listener_token - 1;
inline constexpr std::uint64_t timer_token = listener_token - 2;

[[noreturn]] void throw_errno(const char* what);

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

/// The numeric form of a socket address (an IPv4-mapped IPv6 one as IPv4), "" for other families.
std::string numeric_address(const sockaddr_storage& address);

struct Chunk {
  std::vector<char> bytes;
  std::size_t offset = 0;
  TimePoint release_at;
};

// One direction of a connection: bytes read from `source` waiting to be written to `sink`. While
// no fault needs to see its bytes, they move by splice(2) through the flow's own pipe and never
// enter this process; otherwise they are read into `queue` as chunks. Never both at once: a flow
// splices only with an empty queue, and moves what its pipe holds into the queue (`unpipe`)
// before it reads a chunk, so no byte is lost or overtaken when a fault starts or ends.
struct Flow {
  explicit Flow(bool upstream) : toward_upstream(upstream) {}
  bool toward_upstream;
  std::deque<Chunk> queue;
  std::size_t pending = 0;  // bytes held: in the queue, and in the pipe (`piped` of them)
  UniqueFd pipe_read;
  UniqueFd pipe_write;
  std::size_t piped = 0;
  std::size_t pipe_size = 0;      // what the pipe holds at most
  bool pipe_unavailable = false;  // pipe2 failed (no descriptor left): this flow copies
  bool source_eof = false;
  bool sink_shut = false;
  bool sink_full = false;  // the last send would block: the sink's EPOLLOUT, not a timer, resumes it
  TimePoint last_release{};
  bool bucket_started = false;
  double tokens = 0;
  TimePoint tokens_at{};

  [[nodiscard]] bool finished() const { return source_eof && queue.empty() && piped == 0 && sink_shut; }
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

class FaultProxy::Loop {
 public:
  Loop(Address listen, Address upstream) : listen_(listen), upstream_(upstream) {}

  // The loop's opening and closing, and what other threads ask of it (fault_proxy_loop.cpp).
  void set_upstream(const Address& upstream);
  Address current_upstream() const;
  void open();
  void request_stop();
  void set_faults(const ProxyFaults& faults);
  [[nodiscard]] ProxyFaults faults() const;
  [[nodiscard]] ProxyCounters counters() const;
  [[nodiscard]] std::uint16_t port() const { return port_.load(); }
  void close_all();

  // The loop's turns (fault_proxy_relay.cpp).
  void run();

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
  // Who may connect, and how many at once (fault_proxy_listener.cpp).
  void accept_only_from(std::set<std::string> addresses);
  void set_connection_cap(std::size_t cap);
  void on_first_refusal(std::function<void(Refusal, const std::string&)> observer);

 private:
  // Accepting and refusing connections (fault_proxy_listener.cpp).
  bool admits(const std::string& peer) const;
  void refuse(UniqueFd& client, Refusal reason, const std::string& peer);
  void turn_away_for_want_of_descriptors();
  void accept_all();

  // Faults handed over from other threads, adopted between two turns (fault_proxy_loop.cpp).
  void wake();
  void adopt_faults();

  // The relay (fault_proxy_relay.cpp). What runs for every event and every chunk is declared
  // inline and defined there alone: the compiler weighs inlining it into the loop's turn as it
  // would a body written in the class, and none of it is a call into another file.
  inline void on_socket_event(std::uint64_t id, Side side, std::uint32_t mask);
  void pump_all();
  void pump(std::uint64_t id);
  inline void forget(std::unordered_map<std::uint64_t, std::unique_ptr<Connection>>::iterator it);
  static void reset_connection(Connection& connection) {
    connection.client.reset_with_rst();
    connection.upstream.reset_with_rst();
  }
  inline TimePoint release_time(Flow& flow, TimePoint now);
  inline SteadyClock::duration retransmission_delay(const Flow& flow);
  inline bool read_into(Connection& connection, Flow& flow, int source);
  inline bool passes_untouched(const Flow& flow) const;
  inline bool pipe_ready(Flow& flow);
  inline bool splice_in(Connection& connection, Flow& flow, int source);
  inline bool splice_out(Connection& connection, Flow& flow, int sink);
  inline void unpipe(Connection& connection, Flow& flow);
  inline bool limited(const Flow& flow) const;
  inline void refill(Flow& flow, TimePoint now) const;
  static inline double quantum(const Flow& flow, const ProxyFaults& faults);
  inline bool blackholed(const Flow& flow) const;
  inline bool flush(Connection& connection, Flow& flow, int sink);
  inline std::optional<TimePoint> deadline(const Connection& connection, const Flow& flow, TimePoint now) const;
  inline void arm_timer();

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
  std::atomic<std::uint64_t> bytes_spliced_{0};
};

}  // namespace firedrill
