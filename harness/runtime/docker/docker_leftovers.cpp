#include "harness/runtime/docker/docker_leftovers.hpp"

#include <fmt/format.h>

#include "harness/runtime/docker/host_firewall.hpp"

namespace firedrill::docker {

bool made_by_docker(const JournalState& run) {
  return journal_names(run, {"container", "network", "volume", egress_rule_kind});
}

void release_docker_run(const JournalState& run, CleanupReport& report) {
  const auto api = EngineApi::from_environment();
  const CleanupReport removed = remove_labelled(api, fmt::format("{}={}", labels::run, run.run_id));
  report.removed.containers += removed.removed.containers;
  report.removed.volumes += removed.removed.volumes;
  report.removed.networks += removed.removed.networks;
  report.errors.insert(report.errors.end(), removed.errors.begin(), removed.errors.end());
  report.removed.mounts += release_size_limited_mounts(run.run_id, false, report.errors);
  // The rule that kept the run's containers on this machine carries no engine label.
  for (const auto& [kind, name] : run.created) {
    if (kind != egress_rule_kind) continue;
    if (!is_run_subnet(name)) {
      report.errors.push_back(fmt::format("egress rule of {}: not a run's subnet, left alone", name));
      continue;
    }
    if (!can_change_host_firewall()) {
      report.errors.push_back(fmt::format("egress rule of {}: only root can delete it (iptables)", name));
      continue;
    }
    try {
      if (delete_egress_rule(name, run.run_id))
        report.notes.push_back(fmt::format("{}: deleted the egress rule of {}", run.run_id, name));
    } catch (const EnvironmentError& error) {
      report.errors.push_back(error.what());
    }
  }
}

std::set<std::string> orphaned_labelled_runs() {
  std::set<std::string> orphaned;
  for (const auto& [run, dead] : labelled_runs_by_owner_death(EngineApi::from_environment()))
    if (dead) orphaned.insert(run);
  return orphaned;
}

}  // namespace firedrill::docker
