// The fault proxy's cost with no fault set: throughput of a 64 MiB echo and the round trip of a
// 64-byte ping-pong, each through the proxy and directly to the same loopback echo server, so the
// two can be compared as ratios.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "injectors/proxy/fault_proxy.hpp"
#include "injectors/proxy/loopback_echo_server.hpp"

namespace firedrill {
namespace {

constexpr std::size_t transfer_size = 64 * 1024 * 1024;
constexpr std::size_t ping_size = 64;

struct Servers {
  LoopbackEchoServer echo;
  FaultProxy proxy{"127.0.0.1", 0, "127.0.0.1", echo.port()};
  Servers() { proxy.start(); }
};

Servers& servers() {
  static Servers instance;
  return instance;
}

std::uint16_t target_port(bool through_proxy) {
  return through_proxy ? servers().proxy.port() : servers().echo.port();
}

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const char* data, std::size_t size) {
  std::size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool receive_all(int fd, char* data, std::size_t size, std::size_t chunk) {
  std::size_t received = 0;
  while (received < size) {
    const std::size_t offset = received % chunk;
    const ssize_t n = ::recv(fd, data + offset, std::min(chunk - offset, size - received), 0);
    if (n <= 0) return false;
    received += static_cast<std::size_t>(n);
  }
  return true;
}

// One iteration sends 64 MiB and reads the 64 MiB echoed back, concurrently.
void transfer_64_mib(benchmark::State& state, bool through_proxy) {
  const std::vector<char> outgoing(1024 * 1024, 'x');
  std::vector<char> incoming(outgoing.size());
  for (auto _ : state) {
    const int fd = connect_to(target_port(through_proxy));
    if (fd < 0) {
      state.SkipWithError("connect failed");
      return;
    }
    std::thread writer([&] {
      for (std::size_t sent = 0; sent < transfer_size; sent += outgoing.size()) {
        if (!send_all(fd, outgoing.data(), outgoing.size())) return;
      }
    });
    const bool ok = receive_all(fd, incoming.data(), transfer_size, incoming.size());
    writer.join();
    ::close(fd);
    if (!ok) {
      state.SkipWithError("echo ended early");
      return;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * transfer_size));
}

// One iteration is one 64-byte message and its echo on a connection kept open.
void ping_pong_64_bytes(benchmark::State& state, bool through_proxy) {
  const int fd = connect_to(target_port(through_proxy));
  if (fd < 0) {
    state.SkipWithError("connect failed");
    return;
  }
  char message[ping_size] = {};
  char answer[ping_size] = {};
  for (auto _ : state) {
    if (!send_all(fd, message, ping_size) || !receive_all(fd, answer, ping_size, ping_size)) {
      state.SkipWithError("echo ended early");
      break;
    }
  }
  ::close(fd);
}

BENCHMARK_CAPTURE(transfer_64_mib, direct, false)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(transfer_64_mib, proxy, true)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(ping_pong_64_bytes, direct, false)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(ping_pong_64_bytes, proxy, true)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace firedrill

BENCHMARK_MAIN();
