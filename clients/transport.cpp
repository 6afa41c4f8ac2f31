#include "clients/transport.hpp"

#include <sys/socket.h>

#include <algorithm>

#include <curl/curl.h>

namespace firedrill {

SocketDeadline::SocketDeadline() : thread_([this] { watch(); }) {}

SocketDeadline::~SocketDeadline() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void SocketDeadline::arm(int fd, std::chrono::steady_clock::duration within) {
  {
    std::lock_guard lock(mutex_);
    fd_ = fd;
    deadline_ = std::chrono::steady_clock::now() + within;
    fired_ = false;
    ++generation_;
  }
  changed_.notify_all();
}

bool SocketDeadline::disarm() {
  std::lock_guard lock(mutex_);
  fd_ = -1;
  ++generation_;
  return fired_;
}

void SocketDeadline::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (fd_ < 0) {
      changed_.wait(lock);
      continue;
    }
    const std::uint64_t generation = generation_;
    const auto deadline = deadline_;
    changed_.wait_until(lock, deadline, [&] { return stopping_ || generation_ != generation; });
    if (!stopping_ && generation_ == generation && fd_ >= 0 &&
        std::chrono::steady_clock::now() >= deadline) {
      // Under the lock: the owner cannot have closed the socket, since it disarms first.
      ::shutdown(fd_, SHUT_RDWR);
      fired_ = true;
      fd_ = -1;
    }
  }
}

std::size_t discard_curl_body(char*, std::size_t size, std::size_t count, void*) { return size * count; }

void ensure_curl_initialised() {
  static const bool initialised = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)initialised;
}

std::string conninfo_with_timeout(const std::string& conninfo, std::chrono::milliseconds timeout) {
  const long long seconds = std::max<long long>(2, (timeout.count() + 999) / 1000);
  const std::string setting = "connect_timeout=" + std::to_string(seconds);
  if (conninfo.rfind("postgresql://", 0) == 0 || conninfo.rfind("postgres://", 0) == 0) {
    return conninfo + (conninfo.find('?') == std::string::npos ? "?" : "&") + setting;
  }
  // In key=value form a later setting wins.
  return conninfo.empty() ? setting : conninfo + " " + setting;
}

std::string first_line(const std::string& message) {
  std::string line = message.substr(0, message.find('\n'));
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) line.pop_back();
  return line;
}

}  // namespace firedrill
