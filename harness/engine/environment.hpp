#pragma once
// The drill's environment: the scenario's services brought up on the runtime in the order their
// references demand, each level's readiness awaited in parallel; the fault proxies placed between
// services on the paths the steps act on; and the teardown that removes it all. What a step needs
// of a service before it starts (a filesystem to fill, its WAL archived) is asked of the step's
// spec and the service's kind here, at bring-up.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/vocabulary.hpp"
#include "harness/engine/drill_options.hpp"
#include "harness/engine/run_records.hpp"
#include "harness/rehearse/commands.hpp"
#include "harness/services/service.hpp"
#include "injectors/proxy/fault_proxy.hpp"

namespace firedrill {

class Environment {
 public:
  Environment(const Scenario& scenario, Runtime& runtime, const DrillOptions& options, RunRecords& records);

  /// Makes the services and starts them, level by level; returns early when interrupted. Throws
  /// EnvironmentError when a service cannot start or become ready.
  void bring_up();

  /// Starts `name` again from its spec, on the host ports it had (the `rebuild` action).
  void rebuild_service(const std::string& name);

  /// Points the proxies placed in front of `name` at `to` (the repoint action where services meet
  /// through proxies); the clients behind them.
  std::vector<std::string> repoint_proxies(const std::string& name, const std::string& to);

  /// The proxy placed on the path from client to peer, or nullptr.
  FaultProxy* proxy_between(const std::string& client, const std::string& peer) const;
  /// Every path a proxy was placed on.
  std::vector<NetworkPath> proxied_paths() const;

  const Service* find_service(const std::string& name) const;
  const Service& service(const std::string& name) const { return *services_.at(name); }
  /// What start() and inspect() said of each service that started.
  const std::map<std::string, ContainerInfo>& containers() const { return containers_; }
  /// How a person reaches each started service (a rehearsal's instructions).
  std::vector<ServiceAccess> access() const;
  /// The report's environment.services.
  nlohmann::json describe_services() const;

  /// Each service's log into <run>/logs/, scrubbed of secrets.
  void collect_logs();
  /// Removes every container, network and volume of the run, then stops the proxies. Throws
  /// listing what stayed.
  void tear_down();

 private:
  std::vector<std::vector<const ServiceSpec*>> start_levels() const;
  std::string resolve(const std::string& viewer, const std::string& text);
  FaultProxy* place_proxy(const std::string& client, const std::string& peer);

  const Scenario& scenario_;
  Runtime& runtime_;
  const DrillOptions& options_;
  RunRecords& records_;
  std::map<std::string, std::unique_ptr<Service>> services_;
  std::map<std::string, ContainerInfo> containers_;
  std::vector<NetworkPath> proxied_paths_;
  std::map<NetworkPath, std::unique_ptr<FaultProxy>> proxies_;
};

}  // namespace firedrill
