// The fault proxy's connection handling, driven over loopback in-process: the input is a script
// of connections opened, bytes sent each way, half-closes, resets and fault changes (latency and
// jitter of a few milliseconds, bandwidth, blackhole, loss 1, refuse, reset of open
// connections, each direction). At the end the faults are cleared and every connection still
// open must deliver exactly what was sent each way, in order, and end when it was half-closed;
// once every socket is closed the proxy must hold no connection.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "injectors/proxy/fault_proxy.hpp"

namespace {

using namespace firedrill;
using namespace std::chrono_literals;

constexpr auto patience = 5s;  // far beyond the few milliseconds any fault here adds

void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "proxy_fuzz: %s\n", what);
    std::abort();
  }
}

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
  std::string bytes(std::size_t count) {
    std::string out;
    while (out.size() < count && at_ < size_) out.push_back(static_cast<char>(data_[at_++]));
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

int listen_loopback(std::uint16_t& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  require(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && ::listen(fd, 64) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0,
          "cannot listen on loopback");
  port = ntohs(address.sin_port);
  return fd;
}

bool readable(int fd, std::chrono::milliseconds timeout) {
  // libFuzzer's -timeout watchdog is a SIGALRM every few seconds: a poll it interrupts (EINTR)
  // goes on waiting, or an idle moment would read as "nothing came".
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    pollfd wanted{fd, POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    const int ready = ::poll(&wanted, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (ready == 1) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

/// connect(2), which the watchdog's SIGALRM may interrupt (EINTR) while the connection goes on
/// being made: then it is awaited and its outcome read.
bool connect_to(int fd, const sockaddr_in& address) {
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) return true;
  if (errno != EINTR) return false;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd wanted{fd, POLLOUT, 0};
    if (::poll(&wanted, 1, 100) != 1) continue;
    int error = 0;
    socklen_t length = sizeof error;
    return ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
  }
  return false;
}

void close_with_rst(int fd) {
  const linger abort_on_close{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  ::close(fd);
}

struct World {
  World() {
    upstream_listener = listen_loopback(upstream_port);
    proxy = new FaultProxy("127.0.0.1", 0, "127.0.0.1", upstream_port);
    proxy->start();
  }
  int upstream_listener = -1;
  std::uint16_t upstream_port = 0;
  FaultProxy* proxy = nullptr;  // lives as long as the process, like the listener
};

World& world() {
  static World* shared = new World;
  return *shared;
}

struct Pair {
  int client = -1;
  int upstream = -1;
  std::string to_upstream, to_client;  // what was sent each way
  bool client_shut = false, upstream_shut = false;
};

void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;  // the watchdog's SIGALRM, as in readable()
    require(n > 0, "a send to the proxy failed on an open connection");
    sent += static_cast<std::size_t>(n);
  }
}

void fail(const char* what, const std::string& got, const std::string& expected, const char* how) {
  std::fprintf(stderr, "proxy_fuzz: %s: %zu of %zu bytes, then %s\n", what, got.size(), expected.size(), how);
  std::abort();
}

// Reads until `expected` arrived (and the end of the stream when `ends`).
void expect(int fd, const std::string& expected, bool ends, const char* what) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + patience;
  char buffer[4096];
  for (;;) {
    if (got.size() >= expected.size() && !ends) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !readable(fd, left)) fail(what, got, expected, "nothing more");
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(what, got, expected, std::strerror(errno));
    if (n == 0) break;
    got.append(buffer, static_cast<std::size_t>(n));
    if (got.size() > expected.size()) fail(what, got, expected, "more than was sent");
  }
  if (got.size() < expected.size()) fail(what, got, expected, "the end of the stream");
  if (got != expected) fail(what, got, expected, "other bytes than were sent");
}

ProxyFaults faults_from(Input& input) {
  ProxyFaults faults;
  const std::uint8_t kind = input.byte();
  const std::uint8_t amount = input.byte();
  faults.direction = static_cast<Direction>(input.byte() % 3);
  faults.loss_direction = faults.direction;
  faults.bandwidth_direction = faults.direction;
  switch (kind % 7) {
    case 0: break;
    case 1: faults.latency = std::chrono::microseconds(amount * 12); break;
    case 2:
      faults.latency = std::chrono::microseconds(amount * 8);
      faults.jitter = std::chrono::microseconds(amount * 8);
      faults.seed = amount;
      break;
    case 3: faults.bandwidth_bytes_per_second = 1e6 + amount * 1e5; break;
    case 4: faults.blackhole = true; break;
    case 5: faults.loss = 1; break;
    case 6: faults.refuse = amount % 2 == 0; faults.reset_existing = amount % 2 == 1; break;
  }
  return faults;
}

void forget(Pair& pair) {
  if (pair.client >= 0) close_with_rst(pair.client);
  if (pair.upstream >= 0) close_with_rst(pair.upstream);
  pair.client = pair.upstream = -1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  World& shared = world();
  Input input(data, size);
  std::vector<Pair> pairs;
  bool refusing = false;
  const auto open_pair = [&](std::size_t index) -> Pair* {
    if (pairs.empty()) return nullptr;
    Pair& pair = pairs[index % pairs.size()];
    return pair.client >= 0 ? &pair : nullptr;
  };

  for (int step = 0; step < 64 && !input.empty(); ++step) {
    const std::uint8_t op = input.byte();
    const std::size_t which = input.byte();
    switch (op % 6) {
      case 0: {  // connect a client; the proxy connects to the upstream
        if (pairs.size() >= 8) break;
        Pair pair;
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(shared.proxy->port());
        // Thousands of connections a second leave tens of thousands in TIME_WAIT: a new client can
        // draw the port of one the proxy's side still holds, and the kernel resets that connect
        // (ECONNRESET) before the proxy ever sees it. Another port is another connection.
        for (int attempt = 0;; ++attempt) {
          pair.client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
          if (connect_to(pair.client, address)) break;
          const int error = errno;
          ::close(pair.client);
          if (error != ECONNRESET || attempt == 3) {
            std::fprintf(stderr, "proxy_fuzz: cannot connect to the proxy: %s\n", std::strerror(error));
            std::abort();
          }
        }
        if (refusing) {
          // Reset by the proxy, nothing reaches the upstream. Wait for the reset: connect()
          // returns before the proxy's listener has the connection, and faults changed before
          // it was accepted would govern it.
          char byte = 0;
          require(readable(pair.client, patience) && ::recv(pair.client, &byte, 1, 0) <= 0,
                  "a connection made while refusing was not reset");
          ::close(pair.client);
          break;
        }
        require(readable(shared.upstream_listener, patience), "the proxy did not connect to the upstream");
        pair.upstream = ::accept4(shared.upstream_listener, nullptr, nullptr, SOCK_CLOEXEC);
        require(pair.upstream >= 0, "accept failed");
        pairs.push_back(std::move(pair));
        break;
      }
      case 1: {  // the client sends
        Pair* pair = open_pair(which);
        if (pair == nullptr || pair->client_shut) break;
        const std::string bytes = input.bytes(input.byte());
        send_all(pair->client, bytes);
        pair->to_upstream += bytes;
        break;
      }
      case 2: {  // the upstream sends
        Pair* pair = open_pair(which);
        if (pair == nullptr || pair->upstream_shut) break;
        const std::string bytes = input.bytes(input.byte());
        send_all(pair->upstream, bytes);
        pair->to_client += bytes;
        break;
      }
      case 3: {  // a half-close
        Pair* pair = open_pair(which);
        if (pair == nullptr) break;
        if (which % 2 == 0) {
          ::shutdown(pair->client, SHUT_WR);
          pair->client_shut = true;
        } else {
          ::shutdown(pair->upstream, SHUT_WR);
          pair->upstream_shut = true;
        }
        break;
      }
      case 4: {  // one side resets: the proxy must reset the other
        Pair* pair = open_pair(which);
        if (pair == nullptr) break;
        forget(*pair);
        break;
      }
      case 5: {  // new faults
        const ProxyFaults faults = faults_from(input);
        shared.proxy->set_faults(faults);
        refusing = faults.refuse;
        if (faults.reset_existing)
          for (Pair& pair : pairs) forget(pair);
        break;
      }
    }
  }

  shared.proxy->set_faults(ProxyFaults{});
  for (Pair& pair : pairs) {
    if (pair.client < 0) continue;
    expect(pair.upstream, pair.to_upstream, pair.client_shut, "the upstream did not get what the client sent");
    expect(pair.client, pair.to_client, pair.upstream_shut, "the client did not get what the upstream sent");
    ::close(std::exchange(pair.client, -1));
    ::close(std::exchange(pair.upstream, -1));
  }
  for (Pair& pair : pairs) forget(pair);
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (shared.proxy->counters().connections_active != 0) {
    require(std::chrono::steady_clock::now() < deadline, "the proxy kept a connection whose sockets were closed");
    std::this_thread::sleep_for(1ms);
  }
  return 0;
}
