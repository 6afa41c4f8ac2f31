#include "core/ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(FreeLoopbackPort, IsBelowTheKernelsEphemeralRangeAndBindable) {
  int ephemeral_low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
  std::set<int> seen;
  for (int i = 0; i < 20; ++i) {
    const int port = free_loopback_port();
    EXPECT_GE(port, 1024);
    EXPECT_LT(port, ephemeral_low) << "a port the kernel hands out by itself can be taken before it is bound";
    seen.insert(port);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << port;
    ::close(fd);
  }
  // Drawn at random, so two runs choosing at once rarely meet.
  EXPECT_GT(seen.size(), 10u);
}

// A container a drill beside it publishes never takes the port a local program was given.
TEST(FreeLoopbackPort, PublishedPortsAndLocalProgramsDrawFromHalvesOfTheirOwn) {
  int highest_published = 0, lowest_local = 1 << 16;
  for (int i = 0; i < 200; ++i) {
    highest_published = std::max(highest_published, free_loopback_port(PortShare::published));
    lowest_local = std::min(lowest_local, free_loopback_port(PortShare::local_programs));
  }
  EXPECT_LT(highest_published, lowest_local);
}

}  // namespace
}  // namespace firedrill
