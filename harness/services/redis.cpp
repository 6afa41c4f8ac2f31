#include "harness/services/redis.hpp"

#include <fmt/format.h>

#include "checks/probes/prober.hpp"
#include "harness/services/sentinel.hpp"

namespace firedrill {

std::string RedisService::url_at(const std::string& host, int port) const {
  if (spec_.sentinels > 0) return sentinel_url(spec_);
  return fmt::format("redis://{}:{}", host, port);
}

std::vector<std::string> redis_persistence_arguments(const std::string& persistence) {
  if (persistence == "aof") return {"--appendonly", "yes", "--appendfsync", "always"};
  if (persistence == "none") return {"--save", "", "--appendonly", "no"};
  return {};
}

ContainerSpec RedisService::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  ContainerSpec container = Service::container_spec(resolve);
  // The image appends arguments that start with '-' to redis-server, as the official one does.
  if (spec_.command.empty()) container.command = redis_persistence_arguments(spec_.persistence);
  return container;
}

bool RedisService::ready_precondition(Runtime& runtime, std::string& why_not) const {
  if (spec_.standby_of.empty()) return true;
  const ExecResult answer = runtime.exec(spec_.name, {"redis-cli", "INFO", "replication"}, std::chrono::seconds(2));
  if (answer.exit_code == 0 && answer.output.find("master_link_status:up") != std::string::npos) return true;
  why_not = fmt::format("the replica's link to '{}' is not up yet", spec_.standby_of);
  return false;
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
