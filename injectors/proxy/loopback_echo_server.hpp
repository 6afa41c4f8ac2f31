#pragma once
// A blocking, thread-per-connection TCP echo server on 127.0.0.1, the upstream that the fault
// proxy's tests and benchmark measure against.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace firedrill {

/// Echoes every byte back on the connection it came from; half-closes when the client does.
class LoopbackEchoServer {
 public:
  /// Listens on an ephemeral port of 127.0.0.1; throws std::runtime_error if it cannot.
  LoopbackEchoServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_, 64) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      if (listener_ >= 0) ::close(listener_);
      throw std::runtime_error("echo server: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~LoopbackEchoServer() {
    ::shutdown(listener_, SHUT_RDWR);
    acceptor_.join();
    ::close(listener_);
    {
      std::lock_guard lock(mutex_);
      for (const int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& worker : workers_) worker.join();
  }

  LoopbackEchoServer(const LoopbackEchoServer&) = delete;
  LoopbackEchoServer& operator=(const LoopbackEchoServer&) = delete;

  [[nodiscard]] std::uint16_t port() const { return port_; }

  /// When the server last read bytes from any connection.
  [[nodiscard]] std::chrono::steady_clock::time_point last_received() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(last_received_.load()));
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      const int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
      std::lock_guard lock(mutex_);
      open_.insert(fd);
      workers_.emplace_back([this, fd] { echo(fd); });
    }
  }

  void echo(int fd) {
    std::vector<char> buffer(64 * 1024);
    for (;;) {
      const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (n <= 0) break;
      last_received_.store(std::chrono::steady_clock::now().time_since_epoch().count());
      std::size_t written = 0;
      while (written < static_cast<std::size_t>(n)) {
        const ssize_t w = ::send(fd, buffer.data() + written,
                                 static_cast<std::size_t>(n) - written, MSG_NOSIGNAL);
        if (w <= 0) break;
        written += static_cast<std::size_t>(w);
      }
      if (written < static_cast<std::size_t>(n)) break;
    }
    std::lock_guard lock(mutex_);
    open_.erase(fd);
    ::close(fd);
  }

  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::thread acceptor_;
  std::mutex mutex_;
  std::set<int> open_;
  std::vector<std::thread> workers_;
  std::atomic<std::chrono::steady_clock::rep> last_received_{0};
};

}  // namespace firedrill
