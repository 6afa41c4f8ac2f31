#pragma once
#include "harness/services/service.hpp"

namespace firedrill {

/// Any image: ready when its port accepts a TCP connection, or, without a port, when it runs.
class ContainerService final : public Service {
 public:
  using Service::Service;
  int container_port() const override { return spec_.port.value_or(0); }
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;

 protected:
  std::string default_image() const override { return spec_.image; }
};

}  // namespace firedrill
