#pragma once
// Plumbing shared by the writers and the probes: a client-side deadline for blocking socket I/O
// (libpq has none), libcurl's one-time setup, and libpq conninfo handling.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace firedrill {

/// Bounds one blocking exchange on a socket that its owner drives synchronously: when the
/// deadline passes before disarm(), the socket is shut down from a watchdog thread, so the blocked
/// call returns with an error. Needed because a paused server keeps a TCP connection open forever.
class SocketDeadline {
 public:
  SocketDeadline();
  ~SocketDeadline();
  SocketDeadline(const SocketDeadline&) = delete;
  SocketDeadline& operator=(const SocketDeadline&) = delete;

  /// Arms the watchdog for `fd` (ignored when fd < 0).
  void arm(int fd, std::chrono::steady_clock::duration within);
  /// Disarms; returns true when the deadline had fired (the socket is then unusable).
  bool disarm();

 private:
  void watch();
  std::mutex mutex_;
  std::condition_variable changed_;
  int fd_ = -1;
  std::chrono::steady_clock::time_point deadline_{};
  std::uint64_t generation_ = 0;
  bool fired_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

/// Calls curl_global_init once per process.
void ensure_curl_initialised();

/// A CURLOPT_WRITEFUNCTION that drops the body: a probe or writer needs only the status.
std::size_t discard_curl_body(char* data, std::size_t size, std::size_t count, void* target);

/// `conninfo` with connect_timeout set from `timeout` (whole seconds, at least 2, as libpq
/// enforces). Works for both key=value and URI conninfo strings.
std::string conninfo_with_timeout(const std::string& conninfo, std::chrono::milliseconds timeout);

/// The first line of an error message, without trailing whitespace (libpq's are multi-line).
std::string first_line(const std::string& message);

}  // namespace firedrill
