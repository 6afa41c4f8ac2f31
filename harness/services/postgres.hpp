#pragma once
#include "harness/services/service.hpp"

namespace firedrill {

/// PostgreSQL 15 with data checksums, honouring the official image's variables. The password is
/// generated per run unless the scenario sets POSTGRES_PASSWORD; either way it is a secret.
class PostgresService final : public Service {
 public:
  explicit PostgresService(ServiceSpec spec);
  int container_port() const override { return 5432; }
  std::string url_in_network() const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  std::string harness_conninfo(const ContainerInfo& info) const override;
  std::vector<std::string> secrets() const override { return {password_}; }

 protected:
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/postgres:15"; }
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;

 private:
  std::string user() const;
  std::string database() const;
  std::string password_;
};

}  // namespace firedrill
