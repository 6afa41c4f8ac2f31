#pragma once
// Redis replicas watched by Sentinel. A scenario writes `sentinels: N` (and `replicas: M`, default
// 1) on a redis service; the loader turns that into M replica services
// <master>-replica-1..M (ServiceSpec::standby_of) and N sentinel services <master>-sentinel-1..N
// (kind "sentinel", ServiceSpec::sentinel_of), so probes, steps, logs and the report treat them
// like any service. The sentinels monitor the master under its service name with short timings,
// so killing it makes them promote a replica within seconds, with no action step. Containers have
// no DNS for stopped services: replicas announce their service name (replica-announce-ip) and the
// sentinels resolve and announce host names, so Sentinel names servers as the scenario does. Where
// service names do not resolve (the process runtime), the runtime makes every server and sentinel
// announce 127.0.0.1 and its own port instead (FIREDRILL_ANNOUNCE_IP / FIREDRILL_ANNOUNCE_PORT).
// Replicas and sentinels find the master through ${master.host} and ${master.port}.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "clients/redis_master.hpp"
#include "core/model.hpp"
#include "harness/services/derived.hpp"
#include "harness/runtime/runtime.hpp"
#include "harness/services/service.hpp"
#include "harness/services/service_kind.hpp"

namespace firedrill {

/// The port every sentinel listens on in its container.
inline constexpr int sentinel_port = 26379;
/// How long a master must not answer before a sentinel thinks it down.
inline constexpr int sentinel_down_after_ms = 1000;
/// Sentinel's failover-timeout: the bound of one failover attempt (and twice it between attempts).
inline constexpr int sentinel_failover_timeout_ms = 5000;

/// The declared redis `master` (with `sentinels: N`) as it runs, followed by its replicas, then
/// its sentinels. The group shares the master's password, generated unless the scenario sets
/// REDIS_PASSWORD. The sentinels' quorum is a majority of them.
std::vector<ExpandedService> with_replicas_and_sentinels(const ServiceSpec& master, GeneratedSecrets& secrets);

/// The sentinels that must be ready before `spec` starts: those of every sentinel-managed redis
/// its env or command refers to, so that it can ask them for the master at once. Empty for the
/// group's own replicas and sentinels.
std::vector<std::string> sentinels_to_start_first(const Scenario& scenario, const ServiceSpec& spec);

/// How the harness reaches the group of a sentinel-managed redis `service` (its sentinels' and its
/// servers' published ports), or nothing when `service` has no sentinels. A server is known by
/// its service name and, when it runs on 127.0.0.1 (the process runtime), by `127.0.0.1:<port>`,
/// which is how Sentinel names it there.
std::optional<SentinelGroup> sentinel_group(const Scenario& scenario, const std::string& service,
                                            const std::map<std::string, ContainerInfo>& containers);

/// A redis-sentinel process; ready once it sees the replicas and the other sentinels it expects.
class SentinelService final : public Service {
 public:
  /// The kind's keys, rules, derived services and class (registered in kinds.cpp).
  static ServiceKind kind();
  using Service::Service;
  int container_port() const override { return sentinel_port; }
  ProbeConfig readiness_probe(const ContainerInfo& info) const override;
  /// The group's password, which the sentinel's environment carries.
  std::vector<std::string> secrets() const override;

 protected:
  std::string default_image() const override { return "firedrill/redis:7"; }
  bool ready_precondition(Runtime& runtime, std::string& why_not) const override;
};

}  // namespace firedrill
