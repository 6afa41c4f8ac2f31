#include "harness/services/container.hpp"

#include <fmt/format.h>

#include "clients/probes/prober.hpp"

namespace firedrill {

ProbeConfig ContainerService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe;
  if (container_port() == 0) return probe;
  probe.name = spec_.name + "-ready";
  probe.type = "tcp";
  probe.service = spec_.name;
  probe.port = info.host_ports.at(container_port());
  probe.timeout = std::chrono::milliseconds(500);
  return probe;
}

}  // namespace firedrill
