#include "clients/transport.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

using namespace std::chrono_literals;

struct SocketPair {
  int fds[2] = {-1, -1};
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0); }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

TEST(SocketDeadline, ShutsDownABlockedReadWhenItPasses) {
  SocketPair pair;
  SocketDeadline deadline;
  const auto before = std::chrono::steady_clock::now();
  deadline.arm(pair.fds[0], 50ms);
  char byte = 0;
  const ssize_t got = ::recv(pair.fds[0], &byte, 1, 0);  // the peer never writes
  const auto waited = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(got, 0);
  EXPECT_TRUE(deadline.disarm());
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 1s);
}

TEST(SocketDeadline, DisarmedInTimeLeavesTheSocketAlone) {
  SocketPair pair;
  SocketDeadline deadline;
  deadline.arm(pair.fds[0], 100ms);
  ASSERT_EQ(::send(pair.fds[1], "x", 1, 0), 1);
  char byte = 0;
  ASSERT_EQ(::recv(pair.fds[0], &byte, 1, 0), 1);
  EXPECT_FALSE(deadline.disarm());
  std::this_thread::sleep_for(150ms);
  ASSERT_EQ(::send(pair.fds[1], "y", 1, 0), 1);
  EXPECT_EQ(::recv(pair.fds[0], &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'y');
}

TEST(SocketDeadline, CanBeArmedAgainAfterFiring) {
  SocketPair first;
  SocketPair second;
  SocketDeadline deadline;
  deadline.arm(first.fds[0], 10ms);
  char byte = 0;
  EXPECT_EQ(::recv(first.fds[0], &byte, 1, 0), 0);
  EXPECT_TRUE(deadline.disarm());
  deadline.arm(second.fds[0], 1s);
  ASSERT_EQ(::send(second.fds[1], "z", 1, 0), 1);
  EXPECT_EQ(::recv(second.fds[0], &byte, 1, 0), 1);
  EXPECT_FALSE(deadline.disarm());
}

TEST(Conninfo, ConnectTimeoutIsAddedInEitherForm) {
  EXPECT_EQ(conninfo_with_timeout("host=127.0.0.1 port=5432", 1500ms), "host=127.0.0.1 port=5432 connect_timeout=2");
  EXPECT_EQ(conninfo_with_timeout("host=h", 500ms), "host=h connect_timeout=2");
  EXPECT_EQ(conninfo_with_timeout("host=h", 4001ms), "host=h connect_timeout=5");
  EXPECT_EQ(conninfo_with_timeout("postgresql://u@h:5/db", 3000ms), "postgresql://u@h:5/db?connect_timeout=3");
  EXPECT_EQ(conninfo_with_timeout("postgres://u@h/db?sslmode=disable", 3000ms),
            "postgres://u@h/db?sslmode=disable&connect_timeout=3");
}

TEST(FirstLine, DropsLibpqsContinuationLines) {
  EXPECT_EQ(first_line("connection refused  \n\tIs the server running?\n"), "connection refused");
  EXPECT_EQ(first_line("plain"), "plain");
}

}  // namespace
}  // namespace firedrill
