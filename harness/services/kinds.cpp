#include "harness/services/kinds.hpp"

#include <map>

#include <fmt/format.h>

#include "core/vocabulary.hpp"
#include "harness/services/app.hpp"
#include "core/duration.hpp"
#include "harness/services/connection_string.hpp"
#include "harness/services/container.hpp"
#include "harness/services/haproxy.hpp"
#include "harness/services/patroni.hpp"
#include "harness/services/pgbouncer.hpp"
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
  kind.speaks = "postgres";
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
  kind.speaks = "redis";
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
  kind.speaks = "http";
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

/// A duration key (a word like 500ms) between `low` and `high`.
ServiceKey duration_key(std::string name, std::string ServiceSpec::*field, std::string help, std::string default_value,
                        Duration low, Duration high) {
  return {name, field, std::move(help), 0, 0, {}, std::move(default_value), [name, low, high](const std::string& text) {
            const Duration value = parse_duration(text);
            if (value < low || value > high)
              throw std::invalid_argument(fmt::format("'{}' must be from {} to {}, got '{}'", name, format_duration(low),
                                                      format_duration(high), text));
          }};
}

ServiceKind pgbouncer_kind() {
  ServiceKind kind;
  kind.name = "pgbouncer";
  kind.help = "PgBouncer pooling the connections to a postgres service (`backend`)";
  kind.default_image = "firedrill/base:bookworm";
  kind.speaks = "postgres";
  kind.reference_fields = postgres_reference_fields;
  // Not run as a local program by the process runtime (no recipe in harness/runtime/process/
  // recipes/): refused at load rather than failing at bring-up.
  kind.runtimes = {"docker"};
  kind.runtime_note = "PgBouncer runs in a container only";
  kind.keys = {
      {"backend", &ServiceSpec::backend, "the postgres service it pools connections to"},
      {"pool_mode", &ServiceSpec::pool_mode, "when a server connection returns to the pool", 0, 0,
       {"transaction", "session", "statement"}, "transaction"},
      {"pool_size", &ServiceSpec::pool_size, "server connections per user and database (default 20)", 1, 1000},
      {"max_client_conn", &ServiceSpec::max_client_conn, "client connections it accepts (default 100)", 1, 10000},
      duration_key("login_retry", &ServiceSpec::login_retry,
                   "the pause after a failed login to the backend, before PgBouncer tries again (server_login_retry)",
                   pgbouncer_default_login_retry, std::chrono::milliseconds(100), std::chrono::minutes(10)),
  };
  kind.complete = [](ServiceSpec& service) {
    if (service.backend.empty())
      throw ServiceKeyError("", fmt::format("service '{}' of kind pgbouncer needs a 'backend' (the postgres service it "
                                            "pools)",
                                            service.name));
  };
  kind.attach = attach_pgbouncer;
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<PgBouncerService>(spec); };
  return kind;
}

ServiceKind haproxy_kind() {
  ServiceKind kind;
  kind.name = "haproxy";
  kind.help = "HAProxy passing connections to the leader of a Patroni cluster (`backend`), by its REST API";
  kind.default_image = "firedrill/base:bookworm";
  kind.speaks = "postgres";
  kind.reference_fields = postgres_reference_fields;
  kind.runtimes = {"docker"};
  kind.runtime_note = "HAProxy runs in a container only";
  kind.keys = {
      {"backend", &ServiceSpec::backend, "the postgres service with `ha: patroni` whose leader it passes to"},
      duration_key("check_interval", &ServiceSpec::check_interval, "between two checks of a member's GET /primary",
                   haproxy_default_check_interval, std::chrono::milliseconds(100), std::chrono::minutes(1)),
      {"fall", &ServiceSpec::fall, "failed checks in a row that take a member out (default 3)", 1, 100},
      {"rise", &ServiceSpec::rise, "passed checks in a row that put a member back (default 2)", 1, 100},
  };
  kind.complete = [](ServiceSpec& service) {
    if (service.backend.empty())
      throw ServiceKeyError("", fmt::format("service '{}' of kind haproxy needs a 'backend' (the Patroni cluster it "
                                            "passes to)",
                                            service.name));
  };
  kind.attach = attach_haproxy;
  kind.make = [](const ServiceSpec& spec) -> std::unique_ptr<Service> { return std::make_unique<HAProxyService>(spec); };
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
    for (ServiceKind kind :
         {postgres_kind(), redis_kind(), app_kind(), container_kind(), pgbouncer_kind(), haproxy_kind(), sentinel_kind()}) {
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
