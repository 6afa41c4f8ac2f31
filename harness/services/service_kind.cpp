#include "harness/services/service_kind.hpp"

#include <fmt/format.h>

namespace firedrill {
namespace {

// The filesystem lives in host memory, and an initialised Postgres alone takes some 40 MB.
constexpr long long minimum_disk_bytes = 16ll << 20;
constexpr long long maximum_disk_bytes = 64ll << 30;

}  // namespace

namespace service_keys {

ServiceKey disk() {
  return {"disk", &ServiceSpec::disk, "the size of the data directory's own filesystem, like 64MiB",
          minimum_disk_bytes, maximum_disk_bytes};
}

ServiceKey health(std::string default_path) {
  return {"health", &ServiceSpec::health, "the HTTP path that answers 2xx once it is ready", 0, 0, {},
          std::move(default_path), [](const std::string& path) {
            if (path.empty() || path[0] != '/')
              throw std::invalid_argument(fmt::format("'health' must be an HTTP path starting with '/', got '{}'", path));
          }};
}

ServiceKey health_status() {
  return {"health_status", &ServiceSpec::health_status, "the status the health path answers once ready (default any 2xx)",
          100, 599};
}

ServiceKey ready_command() {
  return {"ready_command", &ServiceSpec::ready_command,
          "a shell command run in the service, ready once it exits 0 (with the health path or port, if any)", 0, 0, {},
          {}, [](const std::string& command) {
            if (command.empty()) throw std::invalid_argument("'ready_command' may not be empty");
          }};
}

ServiceKey start_timeout() {
  return {"start_timeout", &ServiceSpec::start_timeout,
          "how long it may take to become ready, like 120s (default the run's, 90s)", 1'000'000, 1'800'000'000};
}

ServiceKey duration(std::string name, std::string ServiceSpec::*field, std::string help, std::string default_value,
                    Duration low, Duration high) {
  return {name, field, std::move(help), 0, 0, {}, std::move(default_value), [name, low, high](const std::string& text) {
            const Duration value = parse_duration(text);
            if (value < low || value > high)
              throw std::invalid_argument(fmt::format("'{}' must be from {} to {}, got '{}'", name, format_duration(low),
                                                      format_duration(high), text));
          }};
}

}  // namespace service_keys
}  // namespace firedrill
