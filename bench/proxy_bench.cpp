// The fault proxy's cost with no fault set: throughput of a 64 MiB echo and the round trip of a
// 64-byte ping-pong to the same loopback echo server, directly, through the proxy (bytes spliced,
// never copied into the process), through a proxy whose fault set makes it copy every byte (a
// bandwidth cap no transfer reaches: the path latency, loss and shaping take), and through socat
// when it is installed, so all compare as ratios from one run.
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "injectors/proxy/fault_proxy.hpp"
#include "injectors/proxy/loopback_echo_server.hpp"

namespace firedrill {
namespace {

constexpr std::size_t transfer_size = 64 * 1024 * 1024;
constexpr std::size_t ping_size = 64;

enum class Path { direct, proxy, proxy_copying, socat };

int connect_to(std::uint16_t port);

// socat relaying a loopback port to the echo server, as a person would put one in the way; port 0
// when socat is not installed or did not listen within 5 s.
struct Socat {
  pid_t pid = -1;
  std::uint16_t port = 0;
  explicit Socat(std::uint16_t echo_port) {
    if (::access("/usr/bin/socat", X_OK) != 0) return;
    const std::uint16_t listen_port = static_cast<std::uint16_t>(20000 + ::getpid() % 20000);
    const std::string listen = "TCP4-LISTEN:" + std::to_string(listen_port) + ",bind=127.0.0.1,reuseaddr,fork,nodelay";
    const std::string upstream = "TCP4:127.0.0.1:" + std::to_string(echo_port) + ",nodelay";
    char* argv[] = {const_cast<char*>("socat"), const_cast<char*>(listen.c_str()), const_cast<char*>(upstream.c_str()), nullptr};
    if (::posix_spawn(&pid, "/usr/bin/socat", nullptr, nullptr, argv, environ) != 0) return;
    for (int attempt = 0; attempt < 500; ++attempt) {
      const int fd = connect_to(listen_port);
      if (fd >= 0) {
        ::close(fd);
        port = listen_port;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Socat() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
  }
};

struct Servers {
  LoopbackEchoServer echo;
  FaultProxy proxy{"127.0.0.1", 0, "127.0.0.1", echo.port()};
  FaultProxy copying_proxy{"127.0.0.1", 0, "127.0.0.1", echo.port()};
  Socat socat{echo.port()};
  Servers() {
    proxy.start();
    ProxyFaults copy_every_byte;
    copy_every_byte.bandwidth_bytes_per_second = 1e15;
    copying_proxy.set_faults(copy_every_byte);
    copying_proxy.start();
  }
};

Servers& servers() {
  static Servers instance;
  return instance;
}

std::uint16_t target_port(Path path) {
  switch (path) {
    case Path::direct:
      return servers().echo.port();
    case Path::proxy:
      return servers().proxy.port();
    case Path::proxy_copying:
      return servers().copying_proxy.port();
    case Path::socat:
      return servers().socat.port;
  }
  return 0;
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

// CPU time of this whole process (every thread: the client's, the echo server's, the proxy's),
// in milliseconds.
double process_cpu_ms() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3; };
  return ms(usage.ru_utime) + ms(usage.ru_stime);
}

// One iteration sends 64 MiB and reads the 64 MiB echoed back, concurrently. `process_cpu_ms`:
// the CPU the whole process spent per iteration; the client and the echo server spend the same on
// every path, so the difference between two paths is what the relay in between costs.
void transfer_64_mib(benchmark::State& state, Path path) {
  const std::vector<char> outgoing(1024 * 1024, 'x');
  std::vector<char> incoming(outgoing.size());
  const double cpu_before = process_cpu_ms();
  for (auto _ : state) {
    const int fd = target_port(path) == 0 ? -1 : connect_to(target_port(path));
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
  state.counters["process_cpu_ms"] = (process_cpu_ms() - cpu_before) / static_cast<double>(state.iterations());
}

// One iteration is one 64-byte message and its echo on a connection kept open.
void ping_pong_64_bytes(benchmark::State& state, Path path) {
  const int fd = target_port(path) == 0 ? -1 : connect_to(target_port(path));
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

BENCHMARK_CAPTURE(transfer_64_mib, direct, Path::direct)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(transfer_64_mib, proxy, Path::proxy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(transfer_64_mib, proxy_copying, Path::proxy_copying)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(transfer_64_mib, socat, Path::socat)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(ping_pong_64_bytes, direct, Path::direct)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(ping_pong_64_bytes, proxy, Path::proxy)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(ping_pong_64_bytes, proxy_copying, Path::proxy_copying)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(ping_pong_64_bytes, socat, Path::socat)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace firedrill

BENCHMARK_MAIN();
