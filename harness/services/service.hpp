#pragma once
// A service of the scenario (postgres, redis, app, container, pgbouncer, haproxy): how to run it,
// when it is ready, and how other services and the harness reach it. One file per kind, chosen by
// make_service (registry.hpp).
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "clients/probes/prober.hpp"
#include "clients/redis_master.hpp"
#include "clients/workload/implied_contracts.hpp"
#include "clients/workload/workload.hpp"
#include "core/model.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// How something reaches a service: from another container on the run's network (by alias and
/// container port) or from the harness (127.0.0.1 and the published port).
struct Endpoint {
  std::string host;
  int port = 0;
};

class Service {
 public:
  explicit Service(ServiceSpec spec) : spec_(std::move(spec)) {}
  virtual ~Service() = default;

  const ServiceSpec& spec() const { return spec_; }
  const std::string& name() const { return spec_.name; }

  /// The port the service listens on inside its container (0: none).
  virtual int container_port() const = 0;

  /// The container to start; `resolve` substitutes ${svc.url|host|port} in env and command.
  virtual ContainerSpec container_spec(const std::function<std::string(const std::string&)>& resolve) const;

  /// The value of ${name.url} for another container of the run (e.g. postgresql://…@db:5432/…).
  std::string url_in_network() const { return url_at(spec_.name, container_port()); }

  /// The service's URL when reached at host:port (through a fault proxy, say).
  virtual std::string url_at(const std::string& host, int port) const;
  /// `${name.field}` for a viewer that reaches the service at host:port: `url`, `host` and `port`
  /// for every kind; a service reached by a postgresql:// URL also its other forms
  /// (postgres_url_field: `conninfo`, `user`, …), as its kind lists in ServiceKind::reference_fields;
  /// nothing for a field it does not know.
  virtual std::optional<std::string> reference(const std::string& field, const std::string& host, int port) const;

  /// Blocks until the service answers for real (not just an open port), or throws
  /// EnvironmentError after `timeout` with the reason and the last log lines.
  virtual void wait_ready(Runtime& runtime, const ContainerInfo& info, std::chrono::milliseconds timeout) const;

  /// Starts the service's container (container_spec) and returns what the runtime says of it. A
  /// service made of other services' containers (a Patroni cluster) starts none of its own.
  virtual ContainerInfo start(Runtime& runtime, const std::function<std::string(const std::string&)>& resolve) const {
    return runtime.start(container_spec(resolve));
  }

  /// What the runtime knows of the service's container now (Runtime::inspect).
  virtual ContainerInfo inspect(Runtime& runtime) const { return runtime.inspect(spec_.name); }

  /// The service a fault aimed at this one hits: itself, or for a cluster the member that leads it
  /// at this moment. Throws when there is none to hit.
  virtual std::string fault_target(Runtime& /*runtime*/) const { return spec_.name; }

  /// The probe whose success means the service answers (type empty: running is enough).
  virtual ProbeConfig readiness_probe(const ContainerInfo& info) const = 0;

  /// libpq conninfo for the harness itself (postgres only; empty otherwise).
  virtual std::string harness_conninfo(const ContainerInfo& /*info*/) const { return {}; }

  /// The password the harness's own clients authenticate with (redis; empty: none).
  virtual std::string harness_password() const { return {}; }

  /// Where the service keeps its data inside the container; a `disk:` size puts this directory
  /// on a filesystem of that size. Empty: the kind has no data directory.
  virtual std::string data_directory() const { return {}; }

  /// Values that must never appear in reports or logs (generated passwords).
  virtual std::vector<std::string> secrets() const { return {}; }

  /// The write and read-back contracts of a writer through the service when the scenario declares
  /// none (clients/workload/implied_contracts.hpp); nothing: a writer through it must declare them.
  /// A service reached by a postgresql:// URL (postgres, a Patroni cluster or member, a pooler or
  /// load balancer in front of one) implies an INSERT into firedrill_writes.
  virtual std::optional<WriteRequestSpec> implied_write(const std::string& writer) const;
  virtual std::optional<ReadBackSpec> implied_read_back(const std::string& writer) const;

  /// Where a writer or a read-back reaches the service as bring-up left it (`info`), through a
  /// sentinel-managed redis's group: its address and the credentials the harness holds. The caller
  /// gives it its contract, name and pace.
  WriterConfig workload_writer(const ContainerInfo& info, const std::optional<SentinelGroup>& sentinel) const;

  /// How long the service may take to become ready: its `start_timeout`, else `run_default`.
  std::chrono::milliseconds start_timeout(std::chrono::milliseconds run_default) const {
    return spec_.start_timeout ? std::chrono::duration_cast<std::chrono::milliseconds>(*spec_.start_timeout) : run_default;
  }

  /// Adds to the report's entry of the service what it says beyond its name, kind, image and
  /// endpoint (a Patroni cluster: its members and timings).
  virtual void add_details(nlohmann::json& /*entry*/) const {}

 protected:
  /// A readiness probe of this service (named `<service>-ready`) of `type`, each sample bounded
  /// by `timeout`; the kind adds where it points (port, path, conninfo, query).
  ProbeConfig readiness_probe_of(std::string type, std::chrono::milliseconds timeout) const;
  /// Extra environment of the kind (passwords, data paths), before the scenario's own env.
  virtual std::map<std::string, std::string> kind_environment() const { return {}; }
  virtual std::string default_image() const = 0;
  /// A condition checked before the readiness probe; false with a reason while not met.
  virtual bool ready_precondition(Runtime& /*runtime*/, std::string& /*why_not*/) const { return true; }
  /// Its URL is a postgresql:// one: it speaks Postgres.
  bool speaks_postgres() const;
  /// The scenario's `ready_command` exited 0 in the service (true without one); the reason otherwise.
  bool ready_command_succeeds(Runtime& runtime, std::string& error) const;

  ServiceSpec spec_;
};

/// A password generated for one run: 144 random bits as 36 hex digits (a service's password
/// unless the scenario sets one, a replication role's). Throws EnvironmentError when the system's
/// random source fails.
std::string random_secret();

/// Polls `attempt` every 50 ms until it returns true or `timeout` passes; `last_error` receives
/// the reason of the last failed attempt.
bool poll_until(const std::function<bool(std::string& last_error)>& attempt, std::chrono::milliseconds timeout,
                std::string& last_error);

}  // namespace firedrill
