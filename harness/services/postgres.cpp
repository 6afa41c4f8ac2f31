#include "harness/services/postgres.hpp"

#include <openssl/rand.h>

#include <fmt/format.h>

#include "checks/probes/prober.hpp"
#include "harness/services/standby.hpp"

namespace firedrill {
namespace {

std::string random_password() {
  unsigned char bytes[18];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw EnvironmentError("cannot generate a database password");
  std::string text;
  for (unsigned char byte : bytes) text += fmt::format("{:02x}", byte);
  return text;
}

}  // namespace

PostgresService::PostgresService(ServiceSpec spec) : Service(std::move(spec)) {
  auto configured = spec_.env.find("POSTGRES_PASSWORD");
  password_ = configured != spec_.env.end() ? configured->second : random_password();
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
  return fmt::format("postgresql://{}:{}@{}:{}/{}", user(), password_, host, port, database());
}

std::string PostgresService::data_directory() const {
  auto configured = spec_.env.find("PGDATA");
  return configured != spec_.env.end() ? configured->second : "/var/lib/postgresql/data";
}

std::string PostgresService::harness_conninfo(const ContainerInfo& info) const {
  return fmt::format("host=127.0.0.1 port={} user={} password={} dbname={} connect_timeout=2",
                     info.host_ports.at(5432), user(), password_, database());
}

ProbeConfig PostgresService::readiness_probe(const ContainerInfo& info) const {
  ProbeConfig probe;
  probe.name = spec_.name + "-ready";
  probe.type = "sql";
  probe.service = spec_.name;
  probe.conninfo = harness_conninfo(info);
  probe.timeout = std::chrono::milliseconds(1000);
  // Division by zero unless the server is in recovery: a standby that came up as a primary (a
  // failed clone) is not ready.
  if (!spec_.standby_of.empty()) probe.query = "SELECT 1 / pg_is_in_recovery()::int";
  return probe;
}

bool PostgresService::ready_precondition(Runtime& runtime, std::string& why_not) const {
  // The image restarts the server once after first initialisation (the init server listens on
  // its Unix socket only), so readiness is the ready log line *and* a query over TCP.
  if (!spec_.standby_of.empty()) return standby_streaming(runtime, why_not);
  if (runtime.logs(spec_.name).find("database system is ready to accept connections") != std::string::npos) return true;
  why_not = "the server has not logged that it is ready";
  return false;
}

bool PostgresService::standby_streaming(Runtime& runtime, std::string& why_not) const {
  const std::string logs = runtime.logs(spec_.name);
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

}  // namespace firedrill
