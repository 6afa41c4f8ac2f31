#include "harness/services/container.hpp"

#include <fmt/format.h>

#include "clients/probes/prober.hpp"

namespace firedrill {

ProbeConfig ContainerService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe;
  if (container_port() == 0) return probe;
  probe.name = spec_.name + "-ready";
  probe.type = spec_.health.empty() ? "tcp" : "http";
  probe.service = spec_.name;
  probe.port = info.host_ports.at(container_port());
  probe.path = spec_.health;
  probe.expect_status = spec_.health_status;
  probe.timeout = std::chrono::milliseconds(spec_.health.empty() ? 500 : 1000);
  return probe;
}

}  // namespace firedrill
