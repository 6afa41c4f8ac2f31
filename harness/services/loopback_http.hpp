#pragma once
// Plain HTTP to a service's port published on this machine's loopback: what the harness asks of
// Patroni's REST API, etcd's JSON gateway and HAProxy's statistics page. Nothing else is spoken
// (no proxy from the environment, no other protocol, no redirect).
#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace firedrill {

/// A request to http://127.0.0.1:port/path: a POST of `request` when given, else a GET. The
/// status and body of the answer, or nothing when no answer came within `timeout`.
std::optional<std::pair<long, std::string>> loopback_http_request(int port, const std::string& path,
                                                                  const std::optional<std::string>& request,
                                                                  std::chrono::milliseconds timeout);

/// GET http://127.0.0.1:port/path; the body of a 2xx answer, or nothing.
std::optional<std::string> loopback_http_get(int port, const std::string& path, std::chrono::milliseconds timeout);

/// POST http://127.0.0.1:port/path with a body; the status and body of the answer.
std::optional<std::pair<long, std::string>> loopback_http_post(int port, const std::string& path,
                                                               const std::string& request,
                                                               std::chrono::milliseconds timeout);

}  // namespace firedrill
