#include "harness/services/redis.hpp"

#include <fmt/format.h>

#include "checks/probes/prober.hpp"

namespace firedrill {

std::string RedisService::url_at(const std::string& host, int port) const { return fmt::format("redis://{}:{}", host, port); }

ContainerSpec RedisService::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  ContainerSpec container = Service::container_spec(resolve);
  if (spec_.command.empty()) {
    // The image appends arguments that start with '-' to redis-server, as the official one does.
    if (spec_.persistence == "aof") container.command = {"--appendonly", "yes", "--appendfsync", "always"};
    if (spec_.persistence == "none") container.command = {"--save", "", "--appendonly", "no"};
  }
  return container;
}

ProbeConfig RedisService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe;
  probe.name = spec_.name + "-ready";
  probe.type = "redis";
  probe.service = spec_.name;
  probe.port = info.host_ports.at(6379);
  probe.timeout = std::chrono::milliseconds(500);
  return probe;
}

}  // namespace firedrill
