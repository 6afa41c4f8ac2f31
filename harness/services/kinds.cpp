#include "harness/services/kinds.hpp"

#include <map>

#include <fmt/format.h>

#include "core/vocabulary.hpp"
#include "harness/services/app.hpp"
#include "harness/services/container.hpp"
#include "harness/services/patroni.hpp"
#include "harness/services/postgres.hpp"
#include "harness/services/redis.hpp"
#include "harness/services/sentinel.hpp"
#include "harness/services/standby.hpp"

namespace firedrill {
namespace {

// The filesystem lives in host memory, and an initialised Postgres alone takes some 40 MB.
constexpr long long minimum_disk_bytes = 16ll << 20;
constexpr long long maximum_disk_bytes = 64ll << 30;

ServiceKey disk_key() {
  return {"disk", &ServiceSpec::disk, "the size of the data directory's own filesystem, like 64MiB",
          minimum_disk_bytes, maximum_disk_bytes};
}

ServiceKey health_key(std::string default_path) {
  return {"health", &ServiceSpec::health, "the HTTP path that answers 2xx once it is ready", 0, 0, {},
          std::move(default_path), [](const std::string& path) {
            if (path.empty() || path[0] != '/')
              throw std::invalid_argument(fmt::format("'health' must be an HTTP path starting with '/', got '{}'", path));
          }};
}

ServiceKey health_status_key() {
  return {"health_status", &ServiceSpec::health_status, "the status the health path answers once ready (default any 2xx)",
          100, 599};
}

ServiceKey ready_command_key() {
  return {"ready_command", &ServiceSpec::ready_command,
          "a shell command run in the service, ready once it exits 0 (with the health path or port, if any)", 0, 0, {},
          {}, [](const std::string& command) {
            if (command.empty()) throw std::invalid_argument("'ready_command' may not be empty");
          }};
}

ServiceKey start_timeout_key() {
  return {"start_timeout", &ServiceSpec::start_timeout,
          "how long it may take to become ready, like 120s (default the run's, 90s)", 1'000'000, 1'800'000'000};
}

ServiceKind postgres_kind() {
  ServiceKind kind;
  kind.name = "postgres";
  kind.help = "PostgreSQL 15, with streaming standbys or as a Patroni cluster";
  kind.default_image = "firedrill/postgres:15";
  kind.reference_fields = postgres_reference_fields;
  kind.keys = {
      {"standbys", &ServiceSpec::standbys, "streaming standbys <name>-standby-1..N", 0, 5},
      {"sync", &ServiceSpec::sync, "replicate synchronously (to a standby, or Patroni's synchronous_mode)"},
      {"ha", &ServiceSpec::ha, "patroni: a cluster of Patroni members with etcd that fails over by itself", 0, 0,
       {"patroni"}},
      {"members", &ServiceSpec::members, "the Patroni members <name>-1..N of an `ha` cluster (default 3)", 2, 5},
      disk_key(),
      start_timeout_key(),
  };
  kind.complete = [](ServiceSpec& service) {
    if (service.members > 0 && service.ha.empty())
      throw ServiceKeyError("members", fmt::format("'members' needs 'ha: patroni': service '{}' is a single server",
                                                   service.name));
    if (!service.ha.empty() && service.standbys > 0)
      throw ServiceKeyError("standbys", fmt::format("'standbys' and 'ha' exclude each other: the members of '{}' are "
                                                    "its standbys",
                                                    service.name));
    if (!service.ha.empty() && service.members == 0) service.members = 3;
    if (service.sync && service.standbys == 0 && service.ha.empty())
      throw ServiceKeyError("sync", fmt::format("'sync' needs standbys: service '{}' has none to replicate to "
                                                "synchronously",
                                                service.name));
  };
  kind.expand = [](const ServiceSpec& declared, GeneratedSecrets& secrets) -> std::vector<ExpandedService> {
    if (declared.ha == "patroni") return patroni_cluster_services(declared, secrets);
    if (declared.standbys > 0) return with_standbys(declared, secrets);
    return {{declared, ""}};
  };
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> {
    if (spec.ha == "patroni") return std::make_unique<PatroniClusterService>(spec);
    if (!spec.member_of.empty()) return std::make_unique<PatroniMemberService>(spec);
    return std::make_unique<PostgresService>(spec);
  };
  return kind;
}

ServiceKind redis_kind() {
  ServiceKind kind;
  kind.name = "redis";
  kind.help = "Redis 7, alone or with replicas that Sentinel fails over to";
  kind.default_image = "firedrill/redis:7";
  kind.reference_fields = {"password"};
  kind.keys = {
      {"sentinels", &ServiceSpec::sentinels, "Sentinel processes <name>-sentinel-1..N watching it", 1, 7},
      {"replicas", &ServiceSpec::replicas, "replicas <name>-replica-1..N the sentinels fail over to (default 1)", 1, 5},
      {"persistence", &ServiceSpec::persistence, "what redis-server writes to disk", 0, 0, {"none", "rdb", "aof"}, "rdb"},
      disk_key(),
      start_timeout_key(),
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

ServiceKind app_kind() {
  ServiceKind kind;
  kind.name = "app";
  kind.help = "an HTTP application (by default the fixture app), ready when its health path answers";
  kind.default_image = "firedrill/app:latest";
  kind.keys = {health_key("/health"), health_status_key(), ready_command_key(), start_timeout_key()};
  kind.complete = [](ServiceSpec& service) {
    if (!service.port) service.port = 8080;
  };
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<AppService>(spec); };
  return kind;
}

ServiceKind container_kind() {
  ServiceKind kind;
  kind.name = "container";
  kind.help = "any image, ready when its port accepts a connection (or its health path answers)";
  kind.keys = {health_key(""), health_status_key(), ready_command_key(), start_timeout_key()};
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

ServiceKind sentinel_kind() {
  ServiceKind kind;
  kind.name = "sentinel";
  kind.help = "a redis-sentinel of a redis with `sentinels` (derived, never declared)";
  kind.declarable = false;
  kind.default_image = "firedrill/redis:7";
  kind.reference_fields = {"password"};
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<SentinelService>(spec); };
  return kind;
}

}  // namespace

const std::vector<ServiceKind>& service_kinds() {
  static const std::vector<ServiceKind> kinds = [] {
    std::vector<ServiceKind> all;
    std::map<std::string, bool> registered;
    for (ServiceKind kind : {postgres_kind(), redis_kind(), app_kind(), container_kind(), sentinel_kind()}) {
      register_unique(registered, kind.name, true, "service kind");
      all.push_back(std::move(kind));
    }
    return all;
  }();
  return kinds;
}

const ServiceKind* find_service_kind(const std::string& name) {
  for (const auto& kind : service_kinds())
    if (kind.name == name) return &kind;
  return nullptr;
}

}  // namespace firedrill
