#include "injectors/proxy/fault_proxy.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "injectors/proxy/loopback_echo_server.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

class Socket {
 public:
  explicit Socket(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ADD_FAILURE() << "connect: " << std::strerror(errno);
    }
  }
  ~Socket() { close(); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  [[nodiscard]] int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void send_all(const void* data, std::size_t size) const {
    const auto* bytes = static_cast<const char*>(data);
    std::size_t sent = 0;
    while (sent < size) {
      const ssize_t n = ::send(fd_, bytes + sent, size - sent, MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send: " << std::strerror(errno);
        return;
      }
      sent += static_cast<std::size_t>(n);
    }
  }
  void send_all(const std::string& text) const { send_all(text.data(), text.size()); }

  /// True when readable (data, EOF or error) within `timeout`.
  [[nodiscard]] bool readable_within(std::chrono::milliseconds timeout) const {
    pollfd entry{fd_, POLLIN, 0};
    return ::poll(&entry, 1, static_cast<int>(timeout.count())) > 0;
  }

  /// Reads exactly `size` bytes, failing the test if they do not arrive within `timeout`.
  std::vector<char> receive(std::size_t size, std::chrono::milliseconds timeout = 5000ms) const {
    std::vector<char> bytes(size);
    std::size_t received = 0;
    const auto give_up = SteadyClock::now() + timeout;
    while (received < size) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(give_up - SteadyClock::now());
      if (left.count() <= 0 || !readable_within(left)) {
        ADD_FAILURE() << "timed out after " << received << " of " << size << " bytes";
        bytes.resize(received);
        return bytes;
      }
      const ssize_t n = ::recv(fd_, bytes.data() + received, size - received, 0);
      if (n <= 0) {
        ADD_FAILURE() << "connection ended after " << received << " of " << size << " bytes";
        bytes.resize(received);
        return bytes;
      }
      received += static_cast<std::size_t>(n);
    }
    return bytes;
  }
  std::string receive_text(std::size_t size) const {
    const auto bytes = receive(size);
    return {bytes.begin(), bytes.end()};
  }

  /// The round trip of a 64-byte message through the echo.
  SteadyClock::duration round_trip() const {
    const std::string message(64, 'r');
    const auto start = SteadyClock::now();
    send_all(message);
    EXPECT_EQ(receive_text(message.size()), message);
    return SteadyClock::now() - start;
  }

 private:
  int fd_ = -1;
};

std::vector<char> random_bytes(std::size_t size, unsigned seed) {
  std::vector<char> bytes(size);
  std::mt19937 random(seed);
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xFF);
  return bytes;
}

// Sends `bytes` from a second thread while reading the echo, so neither side waits on the other.
std::vector<char> echo_through(const Socket& socket, const std::vector<char>& bytes) {
  std::thread writer([&] { socket.send_all(bytes.data(), bytes.size()); });
  auto echoed = socket.receive(bytes.size(), 10'000ms);
  writer.join();
  return echoed;
}

std::size_t open_fd_count() {
  std::size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (const dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the directory stream's own descriptor
}

double millis(SteadyClock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

/// `echoed` holds the numbers 0 .. messages-1 (uint32 each), in order.
void expect_numbered_in_order(const std::vector<char>& echoed, std::uint32_t messages) {
  ASSERT_EQ(echoed.size(), messages * sizeof(std::uint32_t));
  for (std::uint32_t n = 0; n < messages; ++n) {
    std::uint32_t got = 0;
    std::memcpy(&got, echoed.data() + n * sizeof got, sizeof got);
    ASSERT_EQ(got, n) << "out of order at message " << n;
  }
}

class FaultProxyTest : public ::testing::Test {
 protected:
  FaultProxyTest() : proxy("127.0.0.1", 0, "127.0.0.1", echo.port()) { proxy.start(); }

  LoopbackEchoServer echo;
  FaultProxy proxy;
};

TEST(FaultProxyAddresses, AcceptsOnlyLoopbackAndTheDrillNetworks) {
  EXPECT_THROW(FaultProxy("127.0.0.1", 0, "0.0.0.0", 80), std::invalid_argument);
  EXPECT_THROW(FaultProxy("127.0.0.1", 0, "::", 80), std::invalid_argument);
  EXPECT_THROW(FaultProxy("127.0.0.1", 0, "198.17.255.255", 80), std::invalid_argument);
  EXPECT_THROW(FaultProxy("127.0.0.1", 0, "db.example", 80), std::invalid_argument);
  EXPECT_THROW(FaultProxy("0.0.0.0", 0, "127.0.0.1", 80), std::invalid_argument);
  EXPECT_NO_THROW(FaultProxy("127.0.0.1", 0, "198.18.0.2", 5432));
  EXPECT_NO_THROW(FaultProxy("198.19.255.1", 0, "198.19.255.254", 5432));
  EXPECT_NO_THROW(FaultProxy("localhost", 0, "127.0.0.53", 5432));
  EXPECT_NO_THROW(FaultProxy("::1", 0, "::1", 5432));
  try {
    FaultProxy("127.0.0.1", 0, "0.0.0.0", 80);
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "fault proxy upstream address '0.0.0.0' is neither loopback nor in "
                 "198.18.0.0/15");
  }
}

TEST_F(FaultProxyTest, PassesTenMegabytesIntactBothWaysOnConcurrentConnections) {
  constexpr std::size_t connections = 4;
  constexpr std::size_t size = 10'000'000;
  std::vector<std::vector<char>> inputs;
  for (std::size_t i = 0; i < connections; ++i) inputs.push_back(random_bytes(size, 7 + i));
  std::vector<std::thread> clients;
  std::vector<char> intact(connections, 0);  // not vector<bool>: threads write neighbouring elements
  for (std::size_t i = 0; i < connections; ++i) {
    clients.emplace_back([&, i] {
      Socket socket(proxy.port());
      intact[i] = echo_through(socket, inputs[i]) == inputs[i] ? 1 : 0;
    });
  }
  for (auto& client : clients) client.join();
  for (std::size_t i = 0; i < connections; ++i) EXPECT_TRUE(intact[i]) << "connection " << i;

  const auto give_up = SteadyClock::now() + 1s;
  while (proxy.counters().connections_active != 0 && SteadyClock::now() < give_up) {
    std::this_thread::sleep_for(5ms);
  }
  const auto counters = proxy.counters();
  EXPECT_EQ(counters.connections_active, 0u);
  EXPECT_EQ(counters.connections_accepted, connections);
  EXPECT_EQ(counters.bytes_upstream, connections * size);
  EXPECT_EQ(counters.bytes_downstream, connections * size);
  // With no fault set every byte was spliced, none copied through the proxy's buffers.
  EXPECT_EQ(counters.bytes_spliced, 2 * connections * size);
}

// A fault that must see the bytes (latency, a bandwidth cap, a blackhole) switches a connection
// from splicing to copying and back while a stream runs: nothing is lost, repeated or overtaken.
TEST_F(FaultProxyTest, SwitchingBetweenSplicingAndCopyingMidStreamKeepsEveryByteInOrder) {
  constexpr std::uint32_t messages = 2'000'000;
  std::vector<char> numbered(messages * sizeof(std::uint32_t));
  for (std::uint32_t n = 0; n < messages; ++n) std::memcpy(numbered.data() + n * sizeof n, &n, sizeof n);
  Socket socket(proxy.port());
  std::atomic<bool> done{false};
  std::atomic<std::size_t> switches{0};
  std::thread switcher([&] {
    ProxyFaults delayed;
    delayed.latency = 1ms;
    ProxyFaults capped;
    capped.bandwidth_bytes_per_second = 20e6;
    ProxyFaults held;
    held.blackhole = true;
    held.direction = Direction::downstream_only;
    const std::vector<ProxyFaults> cycle = {delayed, {}, capped, {}, held, {}};
    for (std::size_t turn = 0; !done.load(); ++turn) {
      proxy.set_faults(cycle[turn % cycle.size()]);
      switches = turn + 1;
      std::this_thread::sleep_for(1ms);
    }
  });
  // Read slowly, so the proxy's sinks fill and its pipes hold bytes when a fault starts.
  std::thread writer([&] { socket.send_all(numbered.data(), numbered.size()); });
  std::vector<char> echoed(numbered.size());
  std::size_t received = 0;
  const auto give_up = SteadyClock::now() + 20s;
  while (received < echoed.size() && SteadyClock::now() < give_up && socket.readable_within(1000ms)) {
    const ssize_t n = ::recv(socket.fd(), echoed.data() + received, std::min<std::size_t>(16 * 1024, echoed.size() - received), 0);
    if (n <= 0) break;
    received += static_cast<std::size_t>(n);
    std::this_thread::sleep_for(500us);
  }
  echoed.resize(received);
  writer.join();
  done = true;
  switcher.join();
  proxy.set_faults({});
  expect_numbered_in_order(echoed, messages);
  EXPECT_GE(switches.load(), 12u) << "the stream ended before the faults went round twice";
  const auto counters = proxy.counters();
  EXPECT_GT(counters.bytes_spliced, 0u) << "no byte was spliced";
  EXPECT_LT(counters.bytes_spliced, 2 * numbered.size()) << "no byte was copied";
}

TEST_F(FaultProxyTest, LatencyIsAddedInEachAffectedDirection) {
  Socket socket(proxy.port());
  const double baseline = millis(socket.round_trip());

  // Lower bounds on the whole round trip: the baseline's own noise must not excuse a short delay.
  proxy.set_faults({.latency = 200ms, .direction = Direction::upstream_only});
  const double one_way = millis(socket.round_trip());
  EXPECT_GE(one_way, 200.0);
  EXPECT_LT(one_way, baseline + 300.0);

  proxy.set_faults({.latency = 200ms});
  const double both_ways = millis(socket.round_trip());
  EXPECT_GE(both_ways, 400.0);
  EXPECT_LT(both_ways, baseline + 500.0);

  proxy.set_faults({});
  EXPECT_LT(millis(socket.round_trip()), 50.0);
}

// A chunk held for a few microseconds can come due between the loop's last attempt to send it and
// the moment the loop arms its timer; it must be sent then, not held until the connection's next
// event (which, for an answer the client waits on, never comes).
TEST_F(FaultProxyTest, AChunkThatComesDueBeforeTheTimerIsArmedIsStillSent) {
  Socket socket(proxy.port());
  proxy.set_faults({.latency = 20us});
  for (int trip = 0; trip < 1000; ++trip) {
    const char byte = static_cast<char>('a' + trip % 26);
    socket.send_all(&byte, 1);
    const auto echoed = socket.receive(1, 2000ms);
    ASSERT_EQ(echoed.size(), 1U) << "round trip " << trip << " was held";
    ASSERT_EQ(echoed[0], byte);
  }
}

TEST_F(FaultProxyTest, JitterStaysWithinBoundsAndKeepsOrder) {
  Socket socket(proxy.port());
  proxy.set_faults({.latency = 20ms, .jitter = 15ms, .direction = Direction::upstream_only});
  std::vector<double> trips;
  for (int i = 0; i < 30; ++i) trips.push_back(millis(socket.round_trip()));
  std::sort(trips.begin(), trips.end());
  // Every delay the proxy schedules lies in [5, 35] ms. The machine can only add to a round trip,
  // so the lower bound holds for each one; the upper bound is held by the median (about 20 ms),
  // which a busy scheduler delaying a few round trips cannot move past 35 ms.
  EXPECT_GE(trips.front(), 5.0);
  EXPECT_LT(trips[trips.size() / 2], 35.0);
  EXPECT_GT(trips.back() - trips.front(), 10.0) << "the delay does not vary";

  constexpr std::uint32_t messages = 200;
  std::thread writer([&] {
    for (std::uint32_t n = 0; n < messages; ++n) {
      socket.send_all(&n, sizeof n);
      std::this_thread::sleep_for(1ms);
    }
  });
  const auto echoed = socket.receive(messages * sizeof(std::uint32_t));
  writer.join();
  expect_numbered_in_order(echoed, messages);
}

TEST_F(FaultProxyTest, BandwidthLimitPacesTheTransfer) {
  Socket socket(proxy.port());
  proxy.set_faults({.bandwidth_bytes_per_second = 1'000'000.0});
  const auto input = random_bytes(2'000'000, 3);
  const auto start = SteadyClock::now();
  EXPECT_TRUE(echo_through(socket, input) == input);
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  EXPECT_GE(seconds, 1.5);
  EXPECT_LE(seconds, 2.5);
}

TEST_F(FaultProxyTest, BlackholeHoldsEverythingUntilCleared) {
  Socket socket(proxy.port());
  EXPECT_LT(millis(socket.round_trip()), 100.0);
  const auto before = proxy.counters();

  proxy.set_faults({.blackhole = true});
  socket.send_all("ping");
  EXPECT_FALSE(socket.readable_within(300ms)) << "an answer, or the end, came through";
  EXPECT_EQ(proxy.counters().bytes_upstream, before.bytes_upstream);
  EXPECT_EQ(proxy.counters().connections_active, 1u);

  proxy.set_faults({});
  EXPECT_EQ(socket.receive_text(4), "ping");
  socket.send_all("pong");
  EXPECT_EQ(socket.receive_text(4), "pong");
}

TEST_F(FaultProxyTest, BlackholeInOneDirectionLetsTheOtherThrough) {
  Socket socket(proxy.port());
  proxy.set_faults({.blackhole = true, .direction = Direction::downstream_only});
  const auto sent_at = SteadyClock::now();
  socket.send_all("ping");
  EXPECT_FALSE(socket.readable_within(300ms));
  EXPECT_GE(echo.last_received(), sent_at) << "the request did not reach the upstream";
  proxy.set_faults({});
  EXPECT_EQ(socket.receive_text(4), "ping");
}

TEST_F(FaultProxyTest, RefuseResetsNewConnectionsAtOnce) {
  proxy.set_faults({.refuse = true});
  const auto start = SteadyClock::now();
  Socket refused(proxy.port());
  ASSERT_TRUE(refused.readable_within(1000ms));
  char byte = 0;
  const ssize_t n = ::recv(refused.fd(), &byte, 1, 0);
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << std::strerror(errno);
  EXPECT_LT(millis(SteadyClock::now() - start), 100.0);
  EXPECT_EQ(proxy.counters().connections_active, 0u);

  proxy.set_faults({});
  Socket accepted(proxy.port());
  EXPECT_LT(millis(accepted.round_trip()), 100.0);
}

TEST_F(FaultProxyTest, ANewUpstreamTakesNewConnectionsAndLeavesOpenOnesWhereTheyAre) {
  LoopbackEchoServer second;
  Socket before(proxy.port());
  before.round_trip();
  proxy.set_upstream("127.0.0.1", second.port());
  Socket after(proxy.port());
  after.round_trip();
  // The open connection still talks to the first server; the new one reached the second.
  const auto first_heard = echo.last_received();
  const auto second_heard = second.last_received();
  before.round_trip();
  EXPECT_GT(echo.last_received(), first_heard);
  EXPECT_EQ(second.last_received(), second_heard);
  after.round_trip();
  EXPECT_GT(second.last_received(), second_heard);
  EXPECT_THROW(proxy.set_upstream("192.0.2.1", 5432), std::invalid_argument);
}

TEST_F(FaultProxyTest, ResetExistingResetsOpenConnectionsOnce) {
  Socket first(proxy.port());
  Socket second(proxy.port());
  first.round_trip();
  second.round_trip();

  proxy.set_faults({.reset_existing = true});
  for (const Socket* socket : {&first, &second}) {
    ASSERT_TRUE(socket->readable_within(1000ms));
    char byte = 0;
    errno = 0;
    EXPECT_EQ(::recv(socket->fd(), &byte, 1, 0), -1);
    EXPECT_EQ(errno, ECONNRESET);
  }
  EXPECT_FALSE(proxy.faults().reset_existing);

  Socket later(proxy.port());
  EXPECT_LT(millis(later.round_trip()), 100.0);
}

TEST_F(FaultProxyTest, DirectionLimitsLatencyToOneWay) {
  Socket socket(proxy.port());
  socket.round_trip();
  const std::string message = "hello";

  proxy.set_faults({.latency = 200ms, .direction = Direction::upstream_only});
  auto sent = SteadyClock::now();
  socket.send_all(message);
  EXPECT_EQ(socket.receive_text(message.size()), message);
  auto answered = SteadyClock::now();
  EXPECT_GE(millis(echo.last_received() - sent), 200.0);
  EXPECT_LT(millis(answered - echo.last_received()), 50.0);

  proxy.set_faults({.latency = 200ms, .direction = Direction::downstream_only});
  sent = SteadyClock::now();
  socket.send_all(message);
  EXPECT_EQ(socket.receive_text(message.size()), message);
  answered = SteadyClock::now();
  EXPECT_LT(millis(echo.last_received() - sent), 50.0);
  EXPECT_GE(millis(answered - echo.last_received()), 200.0);
}

/// The round trips of `count` messages, in milliseconds.
std::vector<double> round_trips(const Socket& socket, int count) {
  std::vector<double> trips;
  for (int i = 0; i < count; ++i) trips.push_back(millis(socket.round_trip()));
  return trips;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (const double value : values) sum += value;
  return values.empty() ? 0 : sum / static_cast<double>(values.size());
}

TEST_F(FaultProxyTest, LossDelaysLostChunksByRetransmissionTimeouts) {
  Socket socket(proxy.port());
  const auto clean = round_trips(socket, 20);

  proxy.set_faults({.loss = 0.2, .seed = 7});
  const auto lossy = round_trips(socket, 20);
  proxy.set_faults({});

  // A round trip is two chunks; each lost transmission holds one for 200 ms, 400 ms, ...: every
  // trip takes a whole number of 200 ms timeouts (plus loopback's fraction of a millisecond).
  // A busy machine can only add to a trip, and only to a few of them, so the rule is held by
  // three trips in four and by the medians, never by one sample.
  int held = 0;
  int whole_timeouts = 0;
  std::string trips;
  for (const double trip : lossy) {
    if (std::fmod(trip, 200.0) < 50.0) ++whole_timeouts;
    if (trip >= 195.0) ++held;
    trips += fmt::format(" {:.1f}", trip);
  }
  EXPECT_GE(whole_timeouts, 15) << "round trips (ms) that are no sum of retransmission timeouts:" << trips;
  EXPECT_GT(held, 0) << "20% loss over 40 chunks held none";
  EXPECT_LT(held, 20) << "20% loss held every round trip";
  EXPECT_GT(mean(lossy) - mean(clean), 20.0) << "no delay added per round trip";
  EXPECT_LT(median(clean), 50.0);
  EXPECT_LT(median(round_trips(socket, 5)), 50.0) << "delay left after the loss was cleared";
}

TEST_F(FaultProxyTest, LossWithTheSameSeedLosesTheSameChunks) {
  Socket socket(proxy.port());
  const auto timeouts_per_trip = [&] {
    proxy.set_faults({.loss = 0.25, .seed = 42});
    std::vector<long> timeouts;
    for (const double trip : round_trips(socket, 8)) timeouts.push_back(std::lround(trip / 200.0));
    return timeouts;
  };
  const auto first = timeouts_per_trip();
  const auto second = timeouts_per_trip();
  EXPECT_EQ(first, second);
  EXPECT_NE(std::count(first.begin(), first.end(), 0L), static_cast<long>(first.size()))
      << "nothing was lost";
  EXPECT_FALSE(proxy.faults().seed) << "the seed is retained";
}

TEST_F(FaultProxyTest, LossKeepsTheOrderOfTheStream) {
  Socket socket(proxy.port());
  proxy.set_faults({.loss = 0.2, .loss_direction = Direction::upstream_only, .seed = 3});
  constexpr std::uint32_t messages = 60;
  std::thread writer([&] {
    for (std::uint32_t n = 0; n < messages; ++n) {
      socket.send_all(&n, sizeof n);
      std::this_thread::sleep_for(2ms);
    }
  });
  const auto start = SteadyClock::now();
  const auto echoed = socket.receive(messages * sizeof(std::uint32_t), 30'000ms);
  const double took = millis(SteadyClock::now() - start);
  writer.join();
  expect_numbered_in_order(echoed, messages);
  EXPECT_GE(took, 200.0) << "nothing was held";
}

TEST_F(FaultProxyTest, FullLossHoldsEverythingUntilClearedThenDeliversInOrder) {
  Socket socket(proxy.port());
  socket.round_trip();
  // A one-way latency on the same proxy stays in force while the loss comes and goes.
  proxy.set_faults({.latency = 100ms, .direction = Direction::downstream_only, .loss = 1});
  const auto sent_at = SteadyClock::now();
  for (const char* part : {"one,", "two,", "three"}) {
    socket.send_all(part);
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_FALSE(socket.readable_within(300ms)) << "an answer, or the end, came through";
  EXPECT_LT(echo.last_received(), sent_at) << "the upstream received bytes through a 100% loss";
  EXPECT_EQ(proxy.counters().connections_active, 1u);

  const auto cleared_at = SteadyClock::now();
  proxy.set_faults({.latency = 100ms, .direction = Direction::downstream_only});
  EXPECT_EQ(socket.receive_text(13), "one,two,three");
  EXPECT_GE(millis(SteadyClock::now() - cleared_at), 100.0) << "the latency was lost with the loss";
}

/// A connection to 127.0.0.1:port from `source` (another loopback address).
int connect_from(const char* source, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) ADD_FAILURE() << "bind: " << std::strerror(errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) ADD_FAILURE() << "connect: " << std::strerror(errno);
  return fd;
}

/// True when the proxy ended the connection on `fd` (EOF or reset) within a second, unanswered.
bool turned_away(int fd) {
  pollfd entry{fd, POLLIN, 0};
  if (::poll(&entry, 1, 1000) <= 0) return false;
  char byte = 0;
  const ssize_t n = ::recv(fd, &byte, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

/// The round trip of one message through the echo on `fd`.
bool echoes(int fd) {
  const std::string message = "ping";
  if (::send(fd, message.data(), message.size(), MSG_NOSIGNAL) != 4) return false;
  std::string got;
  while (got.size() < message.size()) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 5000) <= 0) return false;
    char buffer[16];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    got.append(buffer, static_cast<std::size_t>(n));
  }
  return got == message;
}

struct Refusals {
  std::mutex mutex;
  std::vector<std::pair<Refusal, std::string>> seen;
  void observe(FaultProxy& proxy) {
    proxy.on_first_refusal([this](Refusal reason, const std::string& peer) {
      std::lock_guard lock(mutex);
      seen.emplace_back(reason, peer);
    });
  }
  std::vector<std::pair<Refusal, std::string>> get() {
    std::lock_guard lock(mutex);
    return seen;
  }
};

// Security review 2, M13: the proxy listens on the bridge gateway, an address of this machine:
// every local user could reach the proxied database through it.
TEST(FaultProxySources, OnlyTheAddressesItIsGivenAreProxied) {
  LoopbackEchoServer echo;
  FaultProxy proxy("127.0.0.1", 0, "127.0.0.1", echo.port());
  Refusals refusals;
  refusals.observe(proxy);
  proxy.accept_only_from({"127.0.0.2"});
  proxy.start();
  const int stranger = connect_from("127.0.0.1", proxy.port());
  EXPECT_TRUE(turned_away(stranger));
  ::close(stranger);
  const int client = connect_from("127.0.0.2", proxy.port());
  EXPECT_TRUE(echoes(client));
  ::close(client);
  EXPECT_EQ(refusals.get(), (std::vector<std::pair<Refusal, std::string>>{{Refusal::source, "127.0.0.1"}}));

  proxy.accept_only_from({});
  const int early = connect_from("127.0.0.2", proxy.port());
  EXPECT_TRUE(turned_away(early)) << "an empty list admits nobody";
  ::close(early);
  EXPECT_EQ(proxy.counters().connections_refused, 2u);
  EXPECT_STREQ(refusal_word(Refusal::source), "source");
}

// Security review 2, L7: no connection cap.
TEST(FaultProxyLimits, AConnectionOverTheCapIsResetAndReported) {
  LoopbackEchoServer echo;
  FaultProxy proxy("127.0.0.1", 0, "127.0.0.1", echo.port());
  Refusals refusals;
  refusals.observe(proxy);
  proxy.set_connection_cap(2);
  proxy.start();
  Socket first(proxy.port());
  Socket second(proxy.port());
  first.round_trip();
  second.round_trip();
  Socket third(proxy.port());
  EXPECT_TRUE(turned_away(third.fd()));
  EXPECT_EQ(refusals.get(), (std::vector<std::pair<Refusal, std::string>>{{Refusal::connection_cap, "127.0.0.1"}}));
  EXPECT_EQ(proxy.counters().connections_active, 2u);
  EXPECT_STREQ(refusal_word(Refusal::connection_cap), "connection-cap");
}

// Security review 2, L7: out of descriptors, the waiting connection kept the level-triggered
// listener ready and the loop spun on it; the connection waited in the backlog for ever.
TEST(FaultProxyLimits, OutOfDescriptorsAConnectionIsTurnedAwayNotLeftWaiting) {
  LoopbackEchoServer echo;
  FaultProxy proxy("127.0.0.1", 0, "127.0.0.1", echo.port());
  Refusals refusals;
  refusals.observe(proxy);
  proxy.start();

  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  rlimit lowered = original;
  lowered.rlim_cur = 512;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
  std::vector<int> fillers;
  for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.push_back(fd);
  ASSERT_FALSE(fillers.empty());
  ::close(fillers.back());  // room for the client's own socket only
  fillers.pop_back();
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(client, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(proxy.port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
  const bool away = turned_away(client);
  ::close(client);
  for (const int fd : fillers) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);

  EXPECT_TRUE(away) << "the connection was left waiting";
  EXPECT_EQ(refusals.get(), (std::vector<std::pair<Refusal, std::string>>{{Refusal::descriptors, "127.0.0.1"}}));
  // With descriptors again, the proxy works as before (towards a fresh echo server: the first
  // one's own accept loop ends on EMFILE if anything reached it meanwhile).
  LoopbackEchoServer fresh;
  proxy.set_upstream("127.0.0.1", fresh.port());
  Socket later(proxy.port());
  later.round_trip();
}

TEST(FaultProxyStop, ReturnsPromptlyAndClosesEveryDescriptor) {
  LoopbackEchoServer echo;
  const std::size_t baseline = open_fd_count();
  {
    FaultProxy proxy("127.0.0.1", 0, "127.0.0.1", echo.port());
    proxy.start();
    Socket idle(proxy.port());
    Socket busy(proxy.port());
    Socket held(proxy.port());
    idle.round_trip();
    busy.send_all(random_bytes(200'000, 5).data(), 200'000);  // never read back
    proxy.set_faults({.latency = 1s});
    held.send_all("ping");
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(proxy.counters().connections_active, 3u);

    const auto start = SteadyClock::now();
    proxy.stop();
    EXPECT_LT(millis(SteadyClock::now() - start), 200.0);
    proxy.stop();
  }
  const auto give_up = SteadyClock::now() + 2s;
  while (open_fd_count() != baseline && SteadyClock::now() < give_up) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(open_fd_count(), baseline);
}

}  // namespace
}  // namespace firedrill
