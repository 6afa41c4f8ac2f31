#pragma once
#include "harness/services/service.hpp"

namespace firedrill {

/// An HTTP application (by default the fixture app): ready when its health path answers 2xx.
class AppService final : public Service {
 public:
  using Service::Service;
  int container_port() const override { return spec_.port.value_or(8080); }
  std::string url_at(const std::string& host, int port) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  std::string workload_writer_kind() const override { return "http"; }

 protected:
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/app:latest"; }
};

}  // namespace firedrill
