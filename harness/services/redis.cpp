#include "harness/services/redis.hpp"

#include <fmt/format.h>

#include "clients/probes/prober.hpp"
#include "harness/services/connection_string.hpp"
#include "harness/services/sentinel.hpp"

namespace firedrill {
namespace {

// Runs as root in the container (the image's entrypoint passes a command other than
// redis-server through) and hands the server's options back to the entrypoint, which starts
// redis-server as its own user with `-` last: the configuration lines on standard input, here
// the password, which is never an argument (any user of the machine may read those in `ps`).
// printf is the shell's own. The process runtime runs the same script with its own stand-in for
// the entrypoint (harness/runtime/process/recipes/redis.cpp).
constexpr const char* server_script = R"SH(set -eu
password=$(printf '%s' "$REDIS_PASSWORD" | sed 's/[\\"]/\\&/g')
exec docker-entrypoint.sh "$@" - <<CONF
requirepass "$password"
masterauth "$password"
CONF
)SH";

}  // namespace

RedisService::RedisService(ServiceSpec spec) : Service(std::move(spec)) {
  auto configured = spec_.env.find(redis_password_env);
  password_ = configured != spec_.env.end() ? configured->second : random_secret();
}

std::map<std::string, std::string> RedisService::kind_environment() const {
  return {{redis_password_env, password_}, {"REDISCLI_AUTH", password_}};
}

std::string RedisService::url_at(const std::string& host, int port) const {
  if (spec_.sentinels > 0) return sentinel_url(spec_, password_);
  return fmt::format("redis://:{}@{}:{}", percent_encoded(password_), host, port);
}

ContainerSpec RedisService::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  ContainerSpec container = Service::container_spec(resolve);
  std::vector<std::string> options = spec_.command.empty() ? redis_persistence_arguments(spec_.persistence) : container.command;
  if (!options.empty() && options.front() == "redis-server") options.erase(options.begin());
  // Only redis-server's own options can be handed on with the password after them.
  if (!options.empty() && !options.front().starts_with("-")) return container;
  container.command = {"sh", "-c", server_script, "sh", "redis-server"};
  container.command.insert(container.command.end(), options.begin(), options.end());
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
  ProbeConfig probe = readiness_probe_of("redis", std::chrono::milliseconds(500));
  probe.port = info.host_ports.at(6379);
  probe.password = password_;
  return probe;
}

std::string sentinel_url(const ServiceSpec& master, const std::string& password) {
  std::vector<std::string> hosts;
  for (int i = 1; i <= master.sentinels; ++i)
    hosts.push_back(fmt::format("${{{0}.host}}:${{{0}.port}}", derived_service_name(master.name, "sentinel", i)));
  const std::string credentials = password.empty() ? "" : ":" + percent_encoded(password) + "@";
  return fmt::format("redis-sentinel://{}{}/{}", credentials, fmt::join(hosts, ","), master.name);
}

ServiceKind RedisService::kind() {
  ServiceKind kind;
  kind.name = "redis";
  kind.help = "Redis 7, alone or with replicas that Sentinel fails over to";
  kind.default_image = "firedrill/redis:7";
  kind.reference_fields = {"password"};
  kind.speaks = "redis";
  kind.keys = {
      {"sentinels", &ServiceSpec::sentinels, "Sentinel processes <name>-sentinel-1..N watching it", 1, 7},
      {"replicas", &ServiceSpec::replicas, "replicas <name>-replica-1..N the sentinels fail over to (default 1)", 1, 5},
      {"persistence", &ServiceSpec::persistence, "what redis-server writes to disk", 0, 0, {"none", "rdb", "aof"}, "rdb"},
      service_keys::disk(),
      service_keys::start_timeout(),
  };
  kind.complete = [](ServiceSpec& service) {
    if (service.replicas > 0 && service.sentinels == 0)
      throw ServiceKeyError("replicas", fmt::format("'replicas' needs sentinels: service '{}' has none to fail over "
                                                    "to them",
                                                    service.name));
    if (service.sentinels > 0 && service.replicas == 0) service.replicas = 1;
  };
  kind.expand = [](const ServiceSpec& declared, GeneratedSecrets& secrets) -> std::vector<ExpandedService> {
    if (declared.sentinels > 0) return with_replicas_and_sentinels(declared, secrets);
    return {{declared, ""}};
  };
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<RedisService>(spec); };
  return kind;
}

}  // namespace firedrill
