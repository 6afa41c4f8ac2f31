#include "injectors/registry.hpp"

#include "injectors/corrupt.hpp"
#include "injectors/destroy.hpp"
#include "injectors/disk_full.hpp"
#include "injectors/kill.hpp"
#include "injectors/latency.hpp"
#include "injectors/loss.hpp"
#include "injectors/netfilter.hpp"
#include "injectors/partition.hpp"
#include "injectors/pause.hpp"
#include "injectors/replication_lag.hpp"
#include "injectors/stop.hpp"
#include "injectors/stress.hpp"

namespace firedrill {
namespace {

template <typename InjectorType>
void add(std::map<std::string, FaultEntry>& registry) {
  VerbSpec spec = InjectorType::spec();
  std::string word = spec.name;
  register_unique(registry, word, FaultEntry{std::move(spec), [] { return std::make_unique<InjectorType>(); }}, "fault");
}

std::map<std::string, FaultEntry> build_registry() {
  std::map<std::string, FaultEntry> registry;
  add<KillInjector>(registry);
  add<PauseInjector>(registry);
  add<StopInjector>(registry);
  add<RestartInjector>(registry);
  add<ResumeStep>(registry);
  add<HealStep>(registry);
  add<PartitionInjector>(registry);
  add<LossInjector>(registry);
  add<DiskFullInjector>(registry);
  add<CpuStressInjector>(registry);
  add<MemoryStressInjector>(registry);
  add<CorruptInjector>(registry);
  add<LatencyInjector>(registry);
  add<ReplicationLagInjector>(registry);
  add<DestroyInjector>(registry);
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
  if (type == "unpause") runtime.unpause(service);
  else if (type == "start") runtime.start_again(service);
  else if (type == "netfilter") netfilter::revert_inverse(runtime, inverse);
  else if (type == "unfill") disk_full::unfill(inverse.value("file", ""));
  else if (type == "stress") stress::stop(runtime, service, inverse.value("marker", ""));
  else if (type == "corrupt") corrupt::revert_inverse(runtime, inverse);
  else if (type == "netem") revert_netem_inverse(runtime, inverse);
  else if (type == "replication-lag") replication_lag::revert_inverse(runtime, inverse);
  else if (type == "proxy") return;  // the proxy ran in the harness's process and ended with it
  else throw std::runtime_error("unknown journalled inverse '" + type + "'");
}

}  // namespace firedrill
