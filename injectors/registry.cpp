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

/// A fault that journals an inverse of its own kind (not one of the mechanisms' that
/// add_mechanism_reverters registers) names it in its class, with the function that reverts it.
template <typename InjectorType>
concept JournalsItsOwnInverse = requires(Runtime& runtime, const nlohmann::json& inverse) {
  { InjectorType::journalled_inverse } -> std::convertible_to<std::string_view>;
  InjectorType::revert_inverse(runtime, inverse);
};

struct Registries {
  std::map<std::string, FaultEntry> faults;
  std::map<std::string, InverseReverter> reverters;
};

/// Registers InjectorType; `needs` is what it asks of the runtime beyond the core, whatever its
/// parameters (a step's own needs stay in its spec). Faults that share an inverse (cpu and
/// memory stress) revert it the same way, so the first registration of a type stands.
template <typename InjectorType>
void add(Registries& registries, std::vector<Capability> needs = {}) {
  VerbSpec spec = InjectorType::spec();
  if (!needs.empty()) spec.needs = always_needs(std::move(needs));
  std::string word = spec.name;
  register_unique(registries.faults, word, FaultEntry{std::move(spec), [] { return std::make_unique<InjectorType>(); }},
                  "fault");
  if constexpr (JournalsItsOwnInverse<InjectorType>)
    registries.reverters.try_emplace(InjectorType::journalled_inverse, &InjectorType::revert_inverse);
}

/// The inverses of the mechanisms several faults share: signals, firewall chains, qdiscs, proxies.
void add_mechanism_reverters(std::map<std::string, InverseReverter>& reverters) {
  reverters.emplace("unpause", [](Runtime& runtime, const nlohmann::json& inverse) {
    process_control(runtime).unpause(inverse.value("service", ""));
  });
  reverters.emplace("start", [](Runtime& runtime, const nlohmann::json& inverse) {
    process_control(runtime).start_again(inverse.value("service", ""));
  });
  reverters.emplace("netfilter", &netfilter::revert_inverse);
  reverters.emplace("netem", &revert_netem_inverse);
  // The proxy ran in the harness's process and ended with it.
  reverters.emplace("proxy", [](Runtime&, const nlohmann::json&) {});
}

Registries build_registries() {
  Registries registry;
  add_mechanism_reverters(registry.reverters);
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

const Registries& registries() {
  static const Registries built = build_registries();
  return built;
}

}  // namespace

const std::map<std::string, FaultEntry>& fault_registry() { return registries().faults; }

std::map<std::string, VerbSpec> fault_specs() {
  std::map<std::string, VerbSpec> specs;
  for (const auto& [name, entry] : fault_registry()) specs.emplace(name, entry.spec);
  return specs;
}

void revert_from_journal(Runtime& runtime, const nlohmann::json& inverse) {
  const std::string type = inverse.value("type", "");
  const auto& reverters = registries().reverters;
  const auto reverter = reverters.find(type);
  if (reverter == reverters.end()) throw std::runtime_error("unknown journalled inverse '" + type + "'");
  reverter->second(runtime, inverse);
}

}  // namespace firedrill
