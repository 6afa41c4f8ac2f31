#include "core/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <random>

#include "core/errors.hpp"

namespace firedrill {

namespace {

/// Whether 127.0.0.1:port can be bound now (0: any port; the one bound is returned in `port`).
bool bindable(int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw EnvironmentError("cannot create a socket to find a free port");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  socklen_t length = sizeof address;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(fd);
  if (ok) port = ntohs(address.sin_port);
  return ok;
}

/// The lowest port the kernel hands out by itself (ip_local_port_range), 32768 when unreadable.
int ephemeral_low() {
  std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0;
  if (range >> low && low > 1024) return low;
  return 32768;
}

}  // namespace

int free_loopback_port(PortShare share) {
  // Below the kernel's ephemeral range: a port it hands out by itself (to a proxy listening on
  // port 0, or to any outgoing connection) can be taken between this choice and the bind of the
  // program that was given it, which then fails with "address already in use"; one it never
  // hands out can only be taken by someone choosing it explicitly.
  const int top = ephemeral_low() - 1;
  const int bottom = std::min(top, 10000);
  const int middle = bottom + (top - bottom) / 2;
  const int low = share == PortShare::published ? bottom : std::min(top, middle + 1);
  const int high = share == PortShare::published ? middle : top;
  static thread_local std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pick(low, high);
  for (int attempt = 0; attempt < 64; ++attempt) {
    int port = pick(random);
    if (bindable(port)) return port;
  }
  int any = 0;
  if (!bindable(any)) throw EnvironmentError("cannot bind 127.0.0.1:0 to find a free port");
  return any;
}

}  // namespace firedrill
