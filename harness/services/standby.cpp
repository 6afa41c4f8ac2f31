#include "harness/services/standby.hpp"

#include <fmt/format.h>

#include "harness/runtime/runtime.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

// Runs as root in the standby's container (the image's entrypoint passes a non-postgres command
// through), then hands over to the entrypoint, which finds PGDATA initialised and starts the
// server. The role is created over the network as the superuser the clone shares with its
// primary; `synchronous_commit = local` because with sync on, a commit would otherwise wait for
// the very standby being built. primary_conninfo goes to postgresql.conf, not to the
// postgresql.auto.conf -R writes, so that ALTER SYSTEM (the replication-lag fault) can override
// it and RESET brings it back. No password is ever a command's argument (any user of the
// machine may read those in `ps`): psql reads the new role's from the environment (\getenv),
// the clients take theirs from PGPASSWORD, and printf is the shell's own.
constexpr const char* standby_script = R"SH(set -euo pipefail
primary="$FIREDRILL_PRIMARY_HOST"
user="${POSTGRES_USER:-postgres}"
port="${FIREDRILL_PRIMARY_PORT:-5432}"
until pg_isready -q -h "$primary" -p "$port" -U "$user"; do sleep 0.1; done
for attempt in 1 2 3 4 5; do
  PGPASSWORD="$POSTGRES_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -h "$primary" -p "$port" -U "$user" -d postgres \
    <<'SQL' && break
\getenv password FIREDRILL_REPLICATION_PASSWORD
SET synchronous_commit = local;
SELECT format('CREATE ROLE firedrill_replication WITH REPLICATION LOGIN PASSWORD %L', :'password')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'firedrill_replication') \gexec
SQL
  echo "creating the replication role failed (attempt $attempt); retrying"
  sleep 0.2
done
mkdir -p "$PGDATA"
find "$PGDATA" -mindepth 1 -delete
chown postgres:postgres "$PGDATA"
chmod 700 "$PGDATA"
PGPASSWORD="$FIREDRILL_REPLICATION_PASSWORD" setpriv --reuid postgres --regid postgres --init-groups \
  pg_basebackup -h "$primary" -p "$port" -U firedrill_replication -D "$PGDATA" -X stream -R -c fast
sed -i '/^primary_conninfo/d' "$PGDATA/postgresql.auto.conf"
printf "primary_conninfo = 'host=%s port=%s user=firedrill_replication password=%s application_name=%s'\n" \
  "$primary" "$port" "$FIREDRILL_REPLICATION_PASSWORD" "$FIREDRILL_STANDBY_NAME" >>"$PGDATA/postgresql.conf"
chown -R postgres:postgres "$PGDATA"
echo "standby cloned from $primary"
exec docker-entrypoint.sh postgres
)SH";

}  // namespace

std::string standby_application_name(const std::string& standby) { return standby; }

std::vector<ExpandedService> with_standbys(const ServiceSpec& declared, GeneratedSecrets& secrets) {
  ServiceSpec primary = declared;
  if (!primary.env.count("POSTGRES_PASSWORD")) primary.env["POSTGRES_PASSWORD"] = secrets.make();
  std::vector<std::string> names;
  for (int i = 1; i <= declared.standbys; ++i) names.push_back(derived_service_name(declared.name, "standby", i));
  if (declared.sync) {
    std::vector<std::string> quoted;
    for (const auto& name : names) quoted.push_back(fmt::format("\"{}\"", standby_application_name(name)));
    std::string setting = fmt::format("synchronous_standby_names=FIRST 1 ({})", fmt::join(quoted, ", "));
    // A scenario's own server command keeps its arguments; any other command is left alone.
    if (primary.command.empty()) primary.command = {"postgres"};
    if (primary.command.front() == "postgres") {
      primary.command.push_back("-c");
      primary.command.push_back(setting);
    }
  }
  const std::string replication_password = secrets.make();
  std::vector<ExpandedService> expanded = {{primary, ""}};
  for (const auto& name : names) {
    ServiceSpec standby;
    standby.name = name;
    standby.kind = "postgres";
    standby.image = primary.image;
    standby.env = declared.env;
    standby.env["POSTGRES_PASSWORD"] = primary.env.at("POSTGRES_PASSWORD");
    // The reference makes the engine start the standby after its primary is ready.
    standby.env["FIREDRILL_PRIMARY_HOST"] = fmt::format("${{{}.host}}", declared.name);
    standby.env["FIREDRILL_PRIMARY_PORT"] = fmt::format("${{{}.port}}", declared.name);
    standby.env["FIREDRILL_REPLICATION_PASSWORD"] = replication_password;
    standby.env["FIREDRILL_STANDBY_NAME"] = standby_application_name(name);
    standby.command = {"/bin/bash", "-c", standby_script};
    standby.standby_of = declared.name;
    standby.where = declared.where;
    expanded.push_back({standby, "a standby"});
  }
  return expanded;
}

}  // namespace firedrill
