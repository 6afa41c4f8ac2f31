#pragma once
// A small client for the Docker Engine API (v1.41) over its Unix socket, also what Podman's
// compatible socket serves. Requests and responses are JSON; exec and logs return the engine's
// multiplexed stream, which demux_stream() turns into plain text.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "harness/runtime/runtime.hpp"

namespace firedrill::docker {

/// The engine could not be reached at all (no socket, connection refused, broken transport).
class EngineUnreachable : public EnvironmentError {
 public:
  using EnvironmentError::EnvironmentError;
};

/// The engine answered with a status other than 2xx/304; what() is the engine's own message.
class EngineError : public std::runtime_error {
 public:
  EngineError(long status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  long status() const { return status_; }

 private:
  long status_;
};

/// The request did not finish within its timeout (e.g. an exec still running).
class EngineTimeout : public std::runtime_error {
 public:
  EngineTimeout(const std::string& message, std::string partial_body)
      : std::runtime_error(message), partial_body_(std::move(partial_body)) {}
  /// What the engine had sent before the timeout.
  const std::string& partial_body() const { return partial_body_; }

 private:
  std::string partial_body_;
};

/// The most of one response body request() keeps (an inspect, a log, an exec's output) and of an
/// error body stream() keeps: an engine or a container that sends more is refused with an
/// EngineError saying so, instead of growing firedrill's memory without bound.
inline constexpr std::size_t max_response_bytes = std::size_t{64} << 20;

struct EngineResponse {
  long status = 0;
  std::string body;
};

class EngineApi {
 public:
  /// Uses DOCKER_HOST when set, else unix:///var/run/docker.sock.
  static EngineApi from_environment();

  /// docker_host is `unix:///path` or `tcp://127.0.0.1:PORT` / `tcp://localhost:PORT`; any other
  /// TCP host is refused with EnvironmentError because the harness only talks to loopback.
  explicit EngineApi(std::string docker_host);

  /// The DOCKER_HOST-style address this client talks to, for messages.
  const std::string& address() const { return address_; }

  /// Sends one request to `/v1.41<path>`. Returns the response for 2xx and 304; throws
  /// EngineError with the engine's message otherwise (status 0 for a body over
  /// max_response_bytes), EngineTimeout when the timeout elapsed, EngineUnreachable when no
  /// connection could be made.
  EngineResponse request(const std::string& method, const std::string& path,
                         const std::optional<nlohmann::json>& body = std::nullopt,
                         std::chrono::milliseconds timeout = std::chrono::seconds(120)) const;

  /// Sends one request whose body is `body` of `content_type` (e.g. a tar archive) and passes the
  /// response body to `sink` piece by piece as it arrives instead of keeping it. Errors as
  /// request(); the body of an error response goes into the EngineError, not to the sink.
  void stream(const std::string& method, const std::string& path, std::string_view body,
              const std::string& content_type, const std::function<void(std::string_view)>& sink,
              std::chrono::milliseconds timeout) const;

  /// Sends a PUT whose body of `size` bytes `read` fills piece by piece (it returns how many
  /// bytes it put into the buffer, 0 only at the end), so a large upload is never held whole in
  /// memory. The answer's body is dropped; errors as request().
  void upload(const std::string& path, const std::string& content_type, std::uint64_t size,
              const std::function<std::size_t(char* buffer, std::size_t capacity)>& read,
              std::chrono::milliseconds timeout) const;

  /// request() and parse the body as JSON (null for an empty body).
  nlohmann::json get(const std::string& path) const;
  nlohmann::json post(const std::string& path, const nlohmann::json& body = nlohmann::json::object(),
                      std::chrono::milliseconds timeout = std::chrono::seconds(120)) const;
  void del(const std::string& path) const;

  /// True when GET /_ping answers.
  bool ping() const;

 private:
  std::string address_;
  std::string socket_path_;  // empty for TCP
  std::string base_url_;     // e.g. http://localhost/v1.41
};

/// Percent-encodes s for a query string or a path segment.
std::string url_encode(std::string_view s);

/// Percent-encodes an image reference for an Engine API path (/images/<reference>/json): `/`, `:`
/// and `@` stay as the engine's router expects them, anything that could end the path or start a
/// query (`?`, `#`, `%`, a space) is encoded.
std::string image_path(std::string_view reference);

/// `?filters=` value selecting resources carrying `label` (either "key" or "key=value").
std::string label_filter(const std::string& label);

/// Joins the payloads of the engine's multiplexed stdout/stderr stream (frames of an 8-byte header
/// [stream, 0, 0, 0, size big-endian] and payload). Input that is not multiplexed (a TTY) comes
/// back unchanged; a truncated last frame contributes what arrived.
std::string demux_stream(std::string_view raw);

}  // namespace firedrill::docker
