#pragma once
// How the network faults (partition, loss, latency, bandwidth) take effect, decided in one place.
// A runtime that can enter its services' network namespaces (Docker) takes them as iptables
// chains and tc qdiscs there (netfilter.hpp, netem.hpp); one whose services share this machine's network (the
// process runtime) takes them on the fault proxies the engine placed between services at
// bring-up (proxy/fault_proxy.hpp), on the paths the steps declared (VerbSpec::paths). A fault
// says which traffic it acts on and what happens to it; it never asks which runtime it runs on.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "injectors/injector.hpp"

namespace firedrill {

/// The traffic a network fault acts on: a service's traffic with one peer, or with every other
/// service of the run.
struct TrafficSelection {
  std::string service;
  std::string peer;         // "" for every other service
  bool to_peer = true;      // what the service sends
  bool from_peer = true;    // what it receives
  /// Also the harness's own connections to the service's published ports (rules only: a proxy
  /// stands only between services).
  bool include_clients = false;
};

/// What a network fault does to the traffic it selects. Each call journals its inverse first and
/// returns the fault that reverts it; `described` is the report's description, which the call
/// completes (`via`, the paths or chains it changed).
class NetworkFaults {
 public:
  virtual ~NetworkFaults() = default;
  /// Drops it: connections time out as across a real partition.
  virtual std::unique_ptr<ActiveFault> cut(const StepSpec& step, const TrafficSelection& traffic,
                                           nlohmann::json described) = 0;
  /// Loses `share` (0 to 1) of its packets, each direction on its own; `seed` makes the draws
  /// repeatable where they are the harness's own.
  virtual std::unique_ptr<ActiveFault> lose(const StepSpec& step, const TrafficSelection& traffic, double share,
                                            std::uint64_t seed, nlohmann::json described) = 0;
  /// Delays what the service sends to traffic.peer by `delay` (± `jitter`).
  virtual std::unique_ptr<ActiveFault> delay(const StepSpec& step, const TrafficSelection& traffic, Duration delay,
                                             Duration jitter, nlohmann::json described) = 0;
  /// Caps what it selects at `bytes_per_second`, through a token bucket `burst_bytes` deep (what
  /// may pass at once after a quiet spell); what exceeds the rate queues, as on a saturated link.
  virtual std::unique_ptr<ActiveFault> limit(const StepSpec& step, const TrafficSelection& traffic,
                                             double bytes_per_second, double burst_bytes, nlohmann::json described) = 0;
};

/// Where the run's network faults take effect: rules in the services' namespaces when the
/// runtime can enter them, else the fault proxies between services.
std::unique_ptr<NetworkFaults> network_faults_for(FaultContext& context);

/// The fault proxies between services, on any runtime (a latency step `via: proxy`).
std::unique_ptr<NetworkFaults> network_faults_on_proxies(FaultContext& context);

/// Rules in the services' own network namespaces (netfilter.hpp); EnvironmentError from the
/// runtime when it cannot enter them.
std::unique_ptr<NetworkFaults> network_faults_as_rules(FaultContext& context);

}  // namespace firedrill
