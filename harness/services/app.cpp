#include "harness/services/app.hpp"

#include <fmt/format.h>

#include "clients/probes/prober.hpp"

namespace firedrill {

std::string AppService::url_at(const std::string& host, int port) const { return fmt::format("http://{}:{}", host, port); }

std::map<std::string, std::string> AppService::kind_environment() const {
  return {{"PORT", std::to_string(container_port())}};
}

ProbeConfig AppService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe = readiness_probe_of("http", std::chrono::milliseconds(1000));
  probe.port = info.host_ports.at(container_port());
  probe.path = spec_.health.empty() ? "/health" : spec_.health;
  probe.expect_status = spec_.health_status;
  return probe;
}

ServiceKind AppService::kind() {
  ServiceKind kind;
  kind.name = "app";
  kind.help = "an HTTP application (by default the fixture app), ready when its health path answers";
  kind.default_image = "firedrill/app:latest";
  kind.speaks = "http";
  kind.keys = {service_keys::health("/health"), service_keys::health_status(), service_keys::ready_command(), service_keys::start_timeout()};
  kind.complete = [](ServiceSpec& service) {
    if (!service.port) service.port = 8080;
  };
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<AppService>(spec); };
  return kind;
}

}  // namespace firedrill
