#pragma once
#include "harness/services/service.hpp"
#include "harness/services/service_kind.hpp"

namespace firedrill {

/// Any image: ready when its health path answers (the status asked, else any 2xx), else when its
/// port accepts a TCP connection, or, without a port, when it runs; and its ready_command, if any,
/// exits 0 (Service::wait_ready).
class ContainerService final : public Service {
 public:
  /// The kind's keys, rules, derived services and class (registered in kinds.cpp).
  static ServiceKind kind();
  using Service::Service;
  int container_port() const override { return spec_.port.value_or(0); }
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;

 protected:
  std::string default_image() const override { return spec_.image; }
};

}  // namespace firedrill
