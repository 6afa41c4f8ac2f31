#include "harness/services/pgbouncer.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/duration.hpp"
#include "harness/services/backend_login.hpp"
#include "harness/services/connection_string.hpp"
#include "harness/services/service_key_error.hpp"

namespace firedrill {
namespace {

constexpr const char* pgbouncer_config_env = "FIREDRILL_PGBOUNCER_CONFIG";
constexpr const char* pgbouncer_backend_address_env = "FIREDRILL_BACKEND_ADDRESS";
constexpr const char* pgbouncer_directory = "/etc/firedrill/pgbouncer";

// Runs as root in the base image. The auth file is written with umask 077 in a directory of the
// postgres user PgBouncer runs as (it refuses to run as root); the password reaches it through the
// environment and printf and sed's standard input, never an argument (any user of the machine
// reads those in `ps`), and leaves the environment before pgbouncer starts. A double quote in the
// user or password is doubled, as the auth file's format asks; a line break could not be written.
constexpr const char* pgbouncer_start_script = R"SH(set -euo pipefail
umask 077
case "$FIREDRILL_BACKEND_USER$FIREDRILL_BACKEND_PASSWORD" in
  *[[:cntrl:]]*) echo "pgbouncer: the backend's user or password holds a control character" >&2; exit 1 ;;
esac
quoted() { printf '"'; printf '%s' "$1" | sed 's/"/""/g'; printf '"'; }
install -d -m 755 /etc/firedrill && install -d -m 700 /etc/firedrill/pgbouncer
{ quoted "$FIREDRILL_BACKEND_USER"; printf ' '; quoted "$FIREDRILL_BACKEND_PASSWORD"; printf '\n'; } \
  >/etc/firedrill/pgbouncer/userlist.txt
printf '%s\n' "$FIREDRILL_PGBOUNCER_CONFIG" >/etc/firedrill/pgbouncer/pgbouncer.ini
chown -R postgres:postgres /etc/firedrill/pgbouncer
unset FIREDRILL_BACKEND_PASSWORD FIREDRILL_PGBOUNCER_CONFIG
echo "pgbouncer in front of $FIREDRILL_BACKEND_ADDRESS"
exec setpriv --reuid postgres --regid postgres --init-groups pgbouncer /etc/firedrill/pgbouncer/pgbouncer.ini
)SH";

bool plain_pgbouncer_user_name(const std::string& user) {
  return !user.empty() && std::all_of(user.begin(), user.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c == '.' || c == '-';
  });
}

}  // namespace

void attach_pgbouncer(ServiceSpec& pooler, std::vector<ServiceSpec>& services, GeneratedSecrets& secrets) {
  ServiceSpec& backend = postgres_backend(pooler, services);
  if (!backend.ha.empty())
    throw ServiceKeyError("backend", fmt::format("'backend' of '{}': PgBouncer reaches a single server, and '{}' is a "
                                                 "Patroni cluster; put a `kind: haproxy` in front of the cluster",
                                                 pooler.name, backend.name));
  take_backend_login(pooler, backend, secrets);
  // The reference makes the engine start the pool once its backend is ready.
  pooler.env[pgbouncer_backend_address_env] = fmt::format("${{{0}.host}}:${{{0}.port}}", backend.name);
  const std::string user = backend_login(pooler).user;
  if (!plain_pgbouncer_user_name(user))
    throw ServiceKeyError("backend", fmt::format("'backend' of '{}': PgBouncer's admin_users is a list of plain names, and "
                                                 "the POSTGRES_USER of '{}' ('{}') holds characters other than letters, "
                                                 "digits, '_', '.' and '-'",
                                                 pooler.name, backend.name, user));
}

std::string pgbouncer_seconds(const std::string& duration) {
  const auto microseconds = std::chrono::duration_cast<std::chrono::microseconds>(parse_duration(duration)).count();
  std::string text = fmt::format("{}.{:06}", microseconds / 1'000'000, microseconds % 1'000'000);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string pgbouncer_configuration(const ServiceSpec& pooler) {
  // The wildcard passes every database name through to the backend. Clients' extra_float_digits
  // (JDBC, pgjdbc-based tools) would otherwise be refused in transaction mode.
  return fmt::format(R"INI([databases]
* = host=${{{backend}.host}} port=${{{backend}.port}}

[pgbouncer]
listen_addr = *
listen_port = {port}
unix_socket_dir = /tmp
auth_type = scram-sha-256
auth_file = {directory}/userlist.txt
admin_users = {admin}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
max_client_conn = {max_client_conn}
server_login_retry = {login_retry}
ignore_startup_parameters = extra_float_digits
)INI",
                     fmt::arg("backend", pooler.backend), fmt::arg("port", pgbouncer_port),
                     fmt::arg("directory", pgbouncer_directory), fmt::arg("admin", backend_login(pooler).user),
                     fmt::arg("pool_mode", pooler.pool_mode.empty() ? "transaction" : pooler.pool_mode),
                     fmt::arg("pool_size", pooler.pool_size > 0 ? pooler.pool_size : pgbouncer_default_pool_size),
                     fmt::arg("max_client_conn",
                              pooler.max_client_conn > 0 ? pooler.max_client_conn : pgbouncer_default_max_client_conn),
                     fmt::arg("login_retry", pgbouncer_seconds(pooler.login_retry.empty() ? pgbouncer_default_login_retry
                                                                                           : pooler.login_retry)));
}

std::map<std::string, std::string> PgBouncerService::kind_environment() const {
  return {{pgbouncer_config_env, pgbouncer_configuration(spec_)}};
}

ContainerSpec PgBouncerService::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  ContainerSpec container = Service::container_spec(resolve);
  if (spec_.command.empty()) container.command = {"/bin/bash", "-c", pgbouncer_start_script};
  return container;
}

std::string PgBouncerService::url_at(const std::string& host, int port) const {
  const BackendLogin login = backend_login(spec_);
  return postgres_url(login.user, login.password, fmt::format("{}:{}", host, port), login.database);
}

void PgBouncerService::add_details(nlohmann::json& entry) const {
  entry["pgbouncer"] = {
      {"backend", spec_.backend},
      {"pool_mode", spec_.pool_mode.empty() ? "transaction" : spec_.pool_mode},
      {"pool_size", spec_.pool_size > 0 ? spec_.pool_size : pgbouncer_default_pool_size},
      {"max_client_conn", spec_.max_client_conn > 0 ? spec_.max_client_conn : pgbouncer_default_max_client_conn},
      {"server_login_retry_seconds",
       std::stod(pgbouncer_seconds(spec_.login_retry.empty() ? pgbouncer_default_login_retry : spec_.login_retry))}};
}

ServiceKind PgBouncerService::kind() {
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
      service_keys::duration("login_retry", &ServiceSpec::login_retry,
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

}  // namespace firedrill
