#pragma once
// PgBouncer in front of a postgres service of the scenario (`kind: pgbouncer`, `backend: db`):
// Debian bookworm's pgbouncer in the base image, listening on 6432. Every database of the
// backend is reachable through it under its own name, with the backend's superuser and password
// (generated per run unless the scenario gives POSTGRES_PASSWORD to the backend). ${pool.url} is
// a postgresql:// URL through the pool, so an app with `DATABASE_URL: "${pool.url}"` writes
// through it; the harness reaches it on its published port the same way.
//
// The password never appears on a command line or in the configuration: it reaches the
// container in its environment, and the start script (as root) writes PgBouncer's auth file,
// private to the postgres user, before it drops the variable and hands over to pgbouncer. The
// backend's superuser is PgBouncer's admin user, so `SHOW STATS`, `SHOW POOLS` … answer on the
// admin console (database `pgbouncer`) with the same login.
#include <string>
#include <vector>

#include "core/model.hpp"
#include "harness/services/derived.hpp"
#include "harness/services/postgres_front.hpp"
#include "harness/services/service_kind.hpp"

namespace firedrill {

/// The port PgBouncer listens on in its container.
inline constexpr int pgbouncer_port = 6432;

/// PgBouncer's defaults, which a scenario's keys override.
inline constexpr int pgbouncer_default_pool_size = 20;
inline constexpr int pgbouncer_default_max_client_conn = 100;
inline constexpr const char* pgbouncer_default_login_retry = "15s";

/// The kind's `attach`: `pooler.backend` must be a declared, single-server postgres (PgBouncer
/// reaches one host; put `kind: haproxy` in front of a Patroni cluster); takes its login
/// (backend_login.hpp) and refuses a superuser name PgBouncer's admin_users list cannot hold.
void attach_pgbouncer(ServiceSpec& pooler, std::vector<ServiceSpec>& services, GeneratedSecrets& secrets);

/// The pgbouncer.ini of `pooler`: every database at ${backend.host}:${backend.port} (resolved by
/// the engine when the pool starts, which also makes it start after its backend), the pool's
/// settings, SCRAM authentication against the auth file the start script writes, and the backend's
/// superuser as admin. Holds no secret.
std::string pgbouncer_configuration(const ServiceSpec& pooler);

/// `login_retry` ("15s", "500ms") as PgBouncer's server_login_retry, in seconds ("15", "0.5").
std::string pgbouncer_seconds(const std::string& duration);

/// Its readiness, harness connection and secrets are a front's (postgres_front.hpp): a query
/// through the pool reaches the backend, which proves the pool's login to it works.
class PgBouncerService final : public PostgresFrontService {
 public:
  /// The kind's keys, rules, derived services and class (registered in kinds.cpp).
  static ServiceKind kind();
  explicit PgBouncerService(ServiceSpec spec)
      : PostgresFrontService(std::move(spec), {pgbouncer_port, std::chrono::milliseconds(2000)}) {}
  /// The start script, unless the scenario gives a command of its own.
  ContainerSpec container_spec(const std::function<std::string(const std::string&)>& resolve) const override;
  /// postgresql://user:password@host:port/database, the backend's login through the pool.
  std::string url_at(const std::string& host, int port) const override;
  /// Its backend and pool settings under "pgbouncer".
  void add_details(nlohmann::json& entry) const override;

 protected:
  /// The configuration (FIREDRILL_PGBOUNCER_CONFIG), which the start script writes to a file.
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/base:bookworm"; }
};

}  // namespace firedrill
