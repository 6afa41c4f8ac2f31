#pragma once
// A service standing in front of a postgres (a PgBouncer pool, an HAProxy in front of a Patroni
// cluster): what every such front does alike with the backend's login it took when the scenario
// was loaded (backend_login.hpp) — the harness's connection through it, its readiness (a query
// through it reaches the backend), and the password its env carries. A new front is its
// configuration and start script, and the few things that differ (Front).
#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "harness/services/service.hpp"

namespace firedrill {

class PostgresFrontService : public Service {
 public:
  /// What differs from one front to another.
  struct Front {
    int port = 0;                                // the port it listens on in its container
    std::chrono::milliseconds ready_timeout{};   // how long one readiness query may take
    /// libpq parameters the harness's connection adds (HAProxy: target_session_attrs=read-write).
    std::vector<std::pair<std::string, std::string>> extra_conninfo = {};
  };

  PostgresFrontService(ServiceSpec spec, Front front) : Service(std::move(spec)), front_(std::move(front)) {}
  int container_port() const override { return front_.port; }
  /// The backend's login through the front's published port.
  std::string harness_conninfo(const ContainerInfo& info) const override;
  /// Ready once a query through the front reaches the backend with the backend's login.
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  /// The backend's password, which the front's env carries.
  std::vector<std::string> secrets() const override;

 private:
  Front front_;
};

}  // namespace firedrill
