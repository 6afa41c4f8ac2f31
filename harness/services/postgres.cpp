#include "harness/services/postgres.hpp"

#include <openssl/rand.h>

#include <fmt/format.h>

#include "checks/probes/prober.hpp"

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

std::string PostgresService::user() const {
  auto configured = spec_.env.find("POSTGRES_USER");
  return configured != spec_.env.end() ? configured->second : "postgres";
}

std::string PostgresService::database() const {
  auto configured = spec_.env.find("POSTGRES_DB");
  return configured != spec_.env.end() ? configured->second : user();
}

std::map<std::string, std::string> PostgresService::kind_environment() const {
  return {{"POSTGRES_PASSWORD", password_}, {"POSTGRES_USER", user()}, {"POSTGRES_DB", database()}};
}

std::string PostgresService::url_in_network() const {
  return fmt::format("postgresql://{}:{}@{}:5432/{}", user(), password_, spec_.name, database());
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
  return probe;
}

bool PostgresService::ready_precondition(Runtime& runtime, std::string& why_not) const {
  // The image restarts the server once after first initialisation (the init server listens on
  // its Unix socket only), so readiness is the ready log line *and* a query over TCP.
  if (runtime.logs(spec_.name).find("database system is ready to accept connections") != std::string::npos) return true;
  why_not = "the server has not logged that it is ready";
  return false;
}

}  // namespace firedrill
