#include "harness/services/container.hpp"

#include <fmt/format.h>

#include "clients/probes/prober.hpp"
#include "harness/services/patroni.hpp"

namespace firedrill {

ProbeConfig ContainerService::readiness_probe(const ContainerInfo& info) const {
  if (container_port() == 0) return {};
  const bool by_port = spec_.health.empty();
  ProbeConfig probe = readiness_probe_of(by_port ? "tcp" : "http", std::chrono::milliseconds(by_port ? 500 : 1000));
  probe.port = info.host_ports.at(container_port());
  probe.path = spec_.health;
  probe.expect_status = spec_.health_status;
  return probe;
}

ServiceKind ContainerService::kind() {
  ServiceKind kind;
  kind.name = "container";
  kind.help = "any image, ready when its port accepts a connection (or its health path answers)";
  kind.keys = {service_keys::health(""), service_keys::health_status(), service_keys::ready_command(), service_keys::start_timeout()};
  kind.complete = [](ServiceSpec& service) {
    if (service.image.empty())
      throw ServiceKeyError("", fmt::format("service '{}' of kind container needs an 'image'", service.name));
  };
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> {
    // The etcd a Patroni cluster derives is a container of the cluster's.
    if (!spec.member_of.empty()) return std::make_unique<EtcdService>(spec);
    return std::make_unique<ContainerService>(spec);
  };
  return kind;
}

}  // namespace firedrill
