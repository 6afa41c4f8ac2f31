#pragma once
// A TCP proxy placed between two services that injects network faults into the bytes it forwards:
// latency, jitter, packet loss, bandwidth limits, blackholes, refused and reset connections. It
// stands in for netem, which this kernel lacks. One thread runs an epoll loop over non-blocking
// sockets; Linux only.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <thread>

namespace firedrill {

/// Which way a fault applies. Upstream is the service the proxy connects to; the client is
/// whoever connects to the proxy.
enum class Direction { both, upstream_only, downstream_only };

/// The faults a proxy applies. The default value forwards everything untouched.
struct ProxyFaults {
  /// Added to every chunk in each affected direction: a chunk read at t is written no earlier than
  /// t + latency ± a uniform draw in [-jitter, +jitter] (never before t), and never before the
  /// chunk read ahead of it, so order is preserved. A round trip through a `both` proxy therefore
  /// gains about 2 × latency. Stamped when the chunk is read.
  std::chrono::microseconds latency{0};
  std::chrono::microseconds jitter{0};
  /// Caps each direction `bandwidth_direction` covers, of each connection, at this many bytes per
  /// second.
  std::optional<double> bandwidth_bytes_per_second{};
  /// Accepts and reads but forwards nothing in the affected directions. Bytes read are held (up to
  /// the 64 KiB buffer, then the sender is back-pressured, as a window that never opens), and are
  /// delivered once the blackhole is cleared — as TCP retransmits after a network heals. Connections
  /// stay open.
  bool blackhole = false;
  /// New connections are reset (RST) as soon as they are accepted.
  bool refuse = false;
  /// One-shot: every connection open when the faults are set is reset (RST) on both sides. Not
  /// retained: later connections are unaffected.
  bool reset_existing = false;
  /// Where latency, jitter and blackhole apply; refuse and reset_existing apply to whole
  /// connections.
  Direction direction = Direction::both;
  /// Packet loss as a TCP stream carries it: each chunk read in a direction `loss_direction`
  /// covers is lost with this probability (0..1) and then held for a retransmission timeout —
  /// 200 ms, Linux's minimum RTO — before delivery; lost again, for twice as long, and so on
  /// (exponential backoff, each timeout capped at loss_rto_cap, at most loss_max_retransmissions
  /// times). Chunks behind a held one wait for it, as TCP delivers in order. 1 holds everything, as
  /// a blackhole does, until the loss is lowered. Added to any latency, stamped when read.
  double loss = 0;
  /// Where loss applies; apart from `direction`, so a loss can join a one-way latency.
  Direction loss_direction = Direction::both;
  /// One-shot: when set, the generator behind loss and jitter draws restarts from this seed as the
  /// faults are adopted, so the same traffic meets the same draws. Not retained.
  std::optional<std::uint64_t> seed{};
  /// Where the bandwidth cap applies; apart from `direction`, so a cap can join a one-way latency.
  Direction bandwidth_direction = Direction::both;
  /// The depth of the cap's token bucket: how many bytes may leave at once after a quiet spell.
  /// Unset, 20 ms of the rate and at least 4 KiB.
  std::optional<double> bandwidth_burst_bytes{};
};

/// The first retransmission timeout of a chunk lost by ProxyFaults::loss (Linux's TCP_RTO_MIN).
inline constexpr std::chrono::milliseconds loss_rto{200};
/// The longest single retransmission timeout a lost chunk waits (Linux's TCP_RTO_MAX).
inline constexpr std::chrono::seconds loss_rto_cap{120};
/// How often one chunk may be lost in a row before it is delivered anyway (Linux's tcp_retries2
/// default; Linux would then give up on the connection instead).
inline constexpr int loss_max_retransmissions = 15;

/// A snapshot of a proxy's counters since start().
struct ProxyCounters {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_active = 0;
  /// Bytes written to the upstream (client → upstream).
  std::uint64_t bytes_upstream = 0;
  /// Bytes written to clients (upstream → client).
  std::uint64_t bytes_downstream = 0;
  /// Connections reset as soon as they were accepted (see Refusal).
  std::uint64_t connections_refused = 0;
  /// Of the bytes written either way, those spliced through a pipe (never copied into this
  /// process): all of them while no fault needs to see the bytes.
  std::uint64_t bytes_spliced = 0;
};

/// Why the proxy reset a connection as soon as it accepted it.
enum class Refusal {
  source,          ///< its peer is not one accept_only_from() names
  connection_cap,  ///< the proxy already held its cap of connections
  descriptors,     ///< this process is out of file descriptors (EMFILE/ENFILE)
};

/// The word for a refusal in events: "source", "connection-cap", "descriptors".
const char* refusal_word(Refusal refusal);

/// How many connections one proxy holds at once unless told otherwise.
inline constexpr std::size_t default_proxy_connection_cap = 1024;

/// A TCP proxy from listen_host:listen_port to upstream_host:upstream_port that injects
/// ProxyFaults. While no fault needs to see a direction's bytes they are spliced through a pipe
/// (up to 256 KiB in flight) and never copied into this process; otherwise each direction keeps a
/// 64 KiB buffer, and a side is not read while the other side's buffer is full. With latency L
/// that caps one connection's throughput at about 64 KiB / L per direction. Each connection holds
/// up to four pipe descriptors besides its two sockets; without a descriptor for a pipe a
/// direction copies instead.
class FaultProxy {
 public:
  /// Hosts are numeric IPv4/IPv6 addresses or "localhost". Both must be loopback (127.0.0.0/8,
  /// ::1) or in 198.18.0.0/15 (the drill networks); anything else throws std::invalid_argument.
  /// listen_port 0 picks an ephemeral port. Nothing is opened until start().
  FaultProxy(const std::string& listen_host, std::uint16_t listen_port,
             const std::string& upstream_host, std::uint16_t upstream_port);
  /// Stops the proxy if it runs.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  /// Binds, listens and starts the loop thread. Throws std::system_error if the address cannot be
  /// bound, std::logic_error if already started.
  void start();
  /// Closes every connection and the listener and joins the loop thread; returns once every file
  /// descriptor the proxy opened is closed. Idempotent.
  void stop();
  /// The port clients connect to (the ephemeral one if 0 was given); 0 before start().
  [[nodiscard]] std::uint16_t port() const;

  /// Replaces the faults. Once it returns, the proxy's loop has adopted them (and reset the open
  /// connections if reset_existing): they govern every byte read and written after the call.
  /// Thread-safe; must not be called from the proxy's own thread.
  void set_faults(const ProxyFaults& faults);
  /// Connections accepted from now on go to this upstream; open ones stay with theirs, as open
  /// connections do when a name is pointed at another server. Same address rules as the
  /// constructor. Thread-safe.
  void set_upstream(const std::string& upstream_host, std::uint16_t upstream_port);
  /// From now on only connections whose peer is one of `addresses` (numeric, as in the
  /// constructor) are proxied; others are reset at once. An empty list admits nobody (a client
  /// that has not started yet). Without a call every peer is admitted. Thread-safe.
  void accept_only_from(const std::vector<std::string>& addresses);
  /// At most `cap` connections at once; one more is reset at once. Thread-safe.
  void set_connection_cap(std::size_t cap);
  /// Called on the proxy's thread the first time a connection is refused for each reason, with
  /// the peer's address ("" when unknown). Set before start().
  void on_first_refusal(std::function<void(Refusal, const std::string& peer)> observer);

  /// The faults in force (reset_existing is always false and seed empty: they are consumed when
  /// set).
  [[nodiscard]] ProxyFaults faults() const;
  /// Thread-safe.
  [[nodiscard]] ProxyCounters counters() const;

  class Loop;

 private:
  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  bool started_ = false;
};

}  // namespace firedrill
