#include "harness/services/postgres.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "clients/probes/prober.hpp"
#include "core/host_paths.hpp"
#include "harness/services/connection_string.hpp"
#include "harness/services/pgbackrest.hpp"
#include "harness/services/standby.hpp"
#include "harness/services/patroni.hpp"

namespace firedrill {
namespace {

// Readiness is polled every few milliseconds; the ready line is among the last lines of a server
// that has only just started, so those are all a poll fetches.
constexpr int recent_log_lines = 500;

// The archive is idempotent: a segment already stored (archived once, then asked again after a
// crash) counts as archived instead of blocking the archiver forever. gzip shrinks the mostly
// empty segments archive_timeout closes every second to a few kilobytes.
std::string archive_command(const std::string& folder) {
  return fmt::format("[ -f {0}/%f.gz ] || {{ gzip -1 < %p > {0}/%f.gz.partial && mv {0}/%f.gz.partial {0}/%f.gz; }}",
                     folder);
}

bool names_wal_archive(const StepSpec& step, const std::string& service) {
  if (step.verb != StepVerb::action || step.target != service) return false;
  const std::string method = step.param_text("method");
  if (step.what == "backup") return method == "basebackup" || method == "pgbackrest";
  if (step.what == "restore")
    return step.params.count("to") != 0 || step.params.count("before") != 0 || method == "basebackup" ||
           method == "pgbackrest";
  return false;
}

}  // namespace

std::string wal_archive_folder(const std::string& service) { return "wal/" + service; }

std::optional<std::filesystem::path> wal_archive_repository(const Scenario& scenario, const ServiceSpec& service,
                                                            const std::filesystem::path& run_directory) {
  if (service.kind != "postgres" || !service.standby_of.empty()) return std::nullopt;
  // A backup decides before a restore: the restore reads the archive the backup's repository has.
  for (const bool backups : {true, false})
    for (const auto& step : scenario.steps) {
      if (!names_wal_archive(step, service.name) || (step.what == "backup") != backups) continue;
      return std::filesystem::absolute(repository_directory(step.param_text("repository"), run_directory)).lexically_normal();
    }
  return std::nullopt;
}

bool archives_wal_with_pgbackrest(const Scenario& scenario, const ServiceSpec& service) {
  return std::any_of(scenario.steps.begin(), scenario.steps.end(), [&](const StepSpec& step) {
    return names_wal_archive(step, service.name) && step.param_text("method") == "pgbackrest";
  });
}

bool PostgresService::archives_wal_with_pgbackrest() const {
  auto archiver = spec_.env.find(wal_archiver_env);
  return archives_wal() && archiver != spec_.env.end() && archiver->second == "pgbackrest";
}

ContainerSpec PostgresService::container_spec(const std::function<std::string(const std::string&)>& resolve) const {
  return container_spec_with_prelude(resolve, "");
}

ContainerSpec PostgresService::container_spec_with_prelude(const std::function<std::string(const std::string&)>& resolve,
                                                           const std::string& prelude) const {
  ContainerSpec container = Service::container_spec(resolve);
  // A standby clones its primary and a restore lays down a backup: neither starts from initdb.
  container.data_from_command = !prelude.empty() || !spec_.standby_of.empty();
  std::vector<std::string> server = container.command.empty() ? std::vector<std::string>{"postgres"} : container.command;
  std::string script = prelude;
  auto repository = spec_.env.find(wal_archive_repository_env);
  if (repository != spec_.env.end()) {
    for (const std::string& marker : {std::string(wal_archive_repository_env) + "=", std::string(wal_archiver_env) + "="})
      std::erase_if(container.env, [&](const std::string& entry) { return entry.starts_with(marker); });
    container.host_directories.push_back({repository->second, repository_mount_path});
    const bool pgbackrest = archives_wal_with_pgbackrest();
    const std::string folder = fmt::format("{}/{}", repository_mount_path,
                                           pgbackrest ? pgbackrest_repository_folder(spec_.name) : wal_archive_folder(spec_.name));
    std::string setup = fmt::format("mkdir -p {0}\nchown postgres:postgres {0}\n", folder);
    // Segments the server closes before the backup action creates the stanza fail to archive and
    // wait in pg_wal; the archiver retries them once the stanza exists.
    if (pgbackrest)
      setup += fmt::format("mkdir -p {0}\ncat >{1} <<'FIREDRILL_PGBACKREST'\n{2}FIREDRILL_PGBACKREST\nchmod 644 {1}\n",
                           std::filesystem::path(pgbackrest_config_path).parent_path().string(), pgbackrest_config_path,
                           pgbackrest_config(spec_.name, user(), data_directory(), repository_mount_path));
    script = setup + script;
    if (server.front() == "postgres")
      server.insert(server.end(), {"-c", "archive_mode=on", "-c",
                                   "archive_command=" + (pgbackrest ? pgbackrest_archive_command(spec_.name) : archive_command(folder)),
                                   "-c", "archive_timeout=1s"});
  }
  if (script.empty()) return container;
  // The image's entrypoint runs any command other than postgres as it is (as root), so the script
  // runs first and then hands the server's arguments to the entrypoint.
  const std::string start = server.front() == "postgres" ? "exec docker-entrypoint.sh \"$@\"" : "exec \"$@\"";
  container.command = {"bash", "-c", "set -euo pipefail\n" + script + start, "bash"};
  container.command.insert(container.command.end(), server.begin(), server.end());
  return container;
}

PostgresService::PostgresService(ServiceSpec spec) : Service(std::move(spec)) {
  auto configured = spec_.env.find("POSTGRES_PASSWORD");
  password_ = configured != spec_.env.end() ? configured->second : random_secret();
}

std::vector<std::string> PostgresService::secrets() const {
  std::vector<std::string> values{password_};
  auto replication = spec_.env.find("FIREDRILL_REPLICATION_PASSWORD");
  if (replication != spec_.env.end()) values.push_back(replication->second);
  return values;
}

std::string PostgresService::user() const {
  auto configured = spec_.env.find("POSTGRES_USER");
  return configured != spec_.env.end() ? configured->second : "postgres";
}

std::string PostgresService::database() const {
  auto configured = spec_.env.find("POSTGRES_DB");
  return configured != spec_.env.end() ? configured->second : user();
}

std::map<std::string, std::string> PostgresService::kind_environment() const {
  // Data checksums make a damaged page an error Postgres reports (the `corrupt` fault relies on
  // it); firedrill/postgres enables them anyway, the official image only when asked. A scenario's
  // own POSTGRES_INITDB_ARGS replaces this.
  return {{"POSTGRES_PASSWORD", password_},
          {"POSTGRES_USER", user()},
          {"POSTGRES_DB", database()},
          {"POSTGRES_INITDB_ARGS", "--data-checksums"}};
}

std::string PostgresService::url_at(const std::string& host, int port) const {
  return postgres_url(user(), password_, fmt::format("{}:{}", host, port), database());
}

std::string PostgresService::data_directory() const {
  auto configured = spec_.env.find("PGDATA");
  return configured != spec_.env.end() ? configured->second : "/var/lib/postgresql/data";
}

std::string PostgresService::harness_conninfo(const ContainerInfo& info) const {
  return conninfo({{"host", "127.0.0.1"},
                   {"port", std::to_string(info.host_ports.at(5432))},
                   {"user", user()},
                   {"password", password_},
                   {"dbname", database()},
                   {"connect_timeout", "2"}});
}

ProbeConfig PostgresService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe = readiness_probe_of("sql", std::chrono::milliseconds(1000));
  probe.conninfo = harness_conninfo(info);
  // Division by zero unless the server is in recovery: a standby that came up as a primary (a
  // failed clone) is not ready.
  if (!spec_.standby_of.empty()) probe.query = "SELECT 1 / pg_is_in_recovery()::int";
  return probe;
}

bool PostgresService::ready_precondition(Runtime& runtime, std::string& why_not) const {
  // The image restarts the server once after first initialisation (the init server listens on
  // its Unix socket only), so readiness is the ready log line *and* a query over TCP.
  if (!spec_.standby_of.empty()) return standby_streaming(runtime, why_not);
  if (runtime.recent_logs(spec_.name, recent_log_lines).find("database system is ready to accept connections") != std::string::npos)
    return true;
  why_not = "the server has not logged that it is ready";
  return false;
}

bool PostgresService::standby_streaming(Runtime& runtime, std::string& why_not) const {
  const std::string logs = runtime.recent_logs(spec_.name, recent_log_lines);
  if (logs.find("database system is ready to accept read-only connections") == std::string::npos) {
    why_not = "the standby has not logged that it accepts read-only connections";
    return false;
  }
  // Asked inside the primary's container over its Unix socket, where the image trusts local
  // connections: the harness needs no credentials for it.
  const std::string query = fmt::format("SELECT state FROM pg_stat_replication WHERE application_name = '{}'",
                                        standby_application_name(spec_.name));
  ExecResult state = runtime.exec(spec_.standby_of, {"psql", "-X", "-tA", "-U", user(), "-d", "postgres", "-c", query},
                                  std::chrono::seconds(5));
  if (state.exit_code == 0 && state.output.find("streaming") != std::string::npos) return true;
  why_not = fmt::format("'{}' does not show the standby streaming yet ({})", spec_.standby_of,
                        state.output.empty() ? "no replication connection" : tail_lines(state.output, 1));
  return false;
}

ServiceKind PostgresService::kind() {
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
      service_keys::disk(),
      service_keys::start_timeout(),
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

}  // namespace firedrill
