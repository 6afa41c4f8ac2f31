#pragma once
#include "harness/services/service.hpp"

namespace firedrill {

/// PostgreSQL 15 with data checksums, honouring the official image's variables. The password is
/// generated per run unless the scenario sets POSTGRES_PASSWORD; either way it is a secret. A
/// standby (spec().standby_of set, see standby.hpp) is ready once it answers as a server in
/// recovery and its primary's pg_stat_replication shows it streaming.
class PostgresService final : public Service {
 public:
  explicit PostgresService(ServiceSpec spec);
  int container_port() const override { return 5432; }
  std::string url_at(const std::string& host, int port) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  std::string harness_conninfo(const ContainerInfo& info) const override;
  std::vector<std::string> secrets() const override;
  /// PGDATA: the scenario's, else /var/lib/postgresql/data (the entrypoint owns and chmods it).
  std::string data_directory() const override;

 protected:
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/postgres:15"; }
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;

 private:
  bool standby_streaming(Runtime& runtime, std::string& why_not) const;
  std::string user() const;
  std::string database() const;
  std::string password_;
};

}  // namespace firedrill
