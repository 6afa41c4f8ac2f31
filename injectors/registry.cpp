#include "injectors/registry.hpp"

#include "injectors/bandwidth.hpp"
#include "injectors/clock_skew.hpp"
#include "injectors/corrupt.hpp"
#include "injectors/destroy.hpp"
#include "injectors/disk_full.hpp"
#include "injectors/dns.hpp"
#include "injectors/kill.hpp"
#include "injectors/latency.hpp"
#include "injectors/loss.hpp"
#include "injectors/netem.hpp"
#include "injectors/netfilter.hpp"
#include "injectors/partition.hpp"
#include "injectors/pause.hpp"
#include "injectors/replication_lag.hpp"
#include "injectors/stop.hpp"
#include "injectors/stress.hpp"

namespace firedrill {
namespace {

/// Registers InjectorType; `needs` is what it asks of the runtime beyond the core, whatever its
/// parameters (a step's own needs stay in its spec).
template <typename InjectorType>
void add(std::map<std::string, FaultEntry>& registry, std::vector<Capability> needs = {}) {
  VerbSpec spec = InjectorType::spec();
  if (!needs.empty()) spec.needs = always_needs(std::move(needs));
  std::string word = spec.name;
  register_unique(registry, word, FaultEntry{std::move(spec), [] { return std::make_unique<InjectorType>(); }}, "fault");
}

std::map<std::string, FaultEntry> build_registry() {
  std::map<std::string, FaultEntry> registry;
  add<KillInjector>(registry, {Capability::process_control});
  add<PauseInjector>(registry, {Capability::process_control});
  add<StopInjector>(registry, {Capability::process_control});
  add<RestartInjector>(registry, {Capability::process_control});
  add<ResumeStep>(registry, {Capability::process_control});
  add<HealStep>(registry);
  add<PartitionInjector>(registry);
  add<LossInjector>(registry);
  add<DiskFullInjector>(registry, {Capability::storage});
  add<CpuStressInjector>(registry);
  add<MemoryStressInjector>(registry);
  add<CorruptInjector>(registry, {Capability::process_control, Capability::file_access});
  add<LatencyInjector>(registry);
  add<ReplicationLagInjector>(registry);
  add<DestroyInjector>(registry, {Capability::storage});
  add<DnsInjector>(registry, {Capability::network_namespaces});
  add<ClockSkewInjector>(registry, {Capability::file_access});
  add<BandwidthInjector>(registry);
  return registry;
}

}  // namespace

const std::map<std::string, FaultEntry>& fault_registry() {
  static const std::map<std::string, FaultEntry> registry = build_registry();
  return registry;
}

std::map<std::string, VerbSpec> fault_specs() {
  std::map<std::string, VerbSpec> specs;
  for (const auto& [name, entry] : fault_registry()) specs.emplace(name, entry.spec);
  return specs;
}

void revert_from_journal(Runtime& runtime, const nlohmann::json& inverse) {
  const std::string type = inverse.value("type", "");
  const std::string service = inverse.value("service", "");
  if (type == "unpause") process_control(runtime).unpause(service);
  else if (type == "start") process_control(runtime).start_again(service);
  else if (type == "netfilter") netfilter::revert_inverse(runtime, inverse);
  else if (type == "unfill") disk_full::unfill(inverse.value("file", ""));
  else if (type == "stress") stress::stop(runtime, service, inverse.value("marker", ""));
  else if (type == "corrupt") corrupt::revert_inverse(runtime, inverse);
  else if (type == "netem") revert_netem_inverse(runtime, inverse);
  else if (type == "replication-lag") replication_lag::revert_inverse(runtime, inverse);
  else if (type == "dns") dns::revert_inverse(runtime, inverse);
  else if (type == "clock-skew") clock_skew::revert_inverse(runtime, inverse);
  else if (type == "proxy") return;  // the proxy ran in the harness's process and ended with it
  else throw std::runtime_error("unknown journalled inverse '" + type + "'");
}

}  // namespace firedrill
