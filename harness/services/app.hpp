#pragma once
#include "harness/services/service.hpp"
#include "harness/services/service_kind.hpp"

namespace firedrill {

/// An HTTP application (by default the fixture app): ready when its health path answers 2xx.
class AppService final : public Service {
 public:
  /// The kind's keys, rules, derived services and class (registered in kinds.cpp).
  static ServiceKind kind();
  using Service::Service;
  int container_port() const override { return spec_.port.value_or(8080); }
  std::string url_at(const std::string& host, int port) const override;
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  std::optional<WriteRequestSpec> implied_write(const std::string& writer) const override {
    return fixture_app_write(writer);
  }
  std::optional<ReadBackSpec> implied_read_back(const std::string&) const override { return fixture_app_read_back(); }

 protected:
  std::map<std::string, std::string> kind_environment() const override;
  std::string default_image() const override { return "firedrill/app:latest"; }
};

}  // namespace firedrill
