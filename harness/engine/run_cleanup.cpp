#include "harness/engine/run_cleanup.hpp"

#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "harness/runtime/docker/docker_runtime.hpp"
#include "harness/runtime/docker/host_firewall.hpp"
#include "harness/runtime/process/process_runtime.hpp"
#include "harness/runtime/process/service_cgroup.hpp"
#include "injectors/registry.hpp"

namespace firedrill {

void revert_journalled_faults(const JournalState& run, CleanupReport& report) {
  if (run.unreverted_inverses.empty()) return;
  std::unique_ptr<Runtime> runtime;
  try {
    if (uses_processes(run)) runtime = std::make_unique<ProcessRuntime>(run.run_dir.parent_path());
    else runtime = std::make_unique<DockerRuntime>();
    runtime->begin_run(run.run_id, run.scenario, run.owner.value_or(Owner{}), {});
  } catch (const std::exception& error) {
    report.notes.push_back(fmt::format("{}: cannot revert its faults ({}); removing its resources undoes them",
                                       run.run_id, error.what()));
    return;
  }
  // Newest first: the reverse of the order they were applied in.
  for (auto it = run.unreverted_inverses.rbegin(); it != run.unreverted_inverses.rend(); ++it) {
    try {
      revert_from_journal(*runtime, *it);
      report.notes.push_back(fmt::format("{}: reverted {}", run.run_id, it->dump()));
    } catch (const std::exception& error) {
      // The container or process may already be gone, which undoes the fault too.
      report.notes.push_back(fmt::format("{}: could not revert {} ({}); removing its resources undoes it", run.run_id,
                                         it->dump(), error.what()));
    }
  }
}

void release_journalled_resources(const JournalState& run, CleanupReport& report) {
  if (uses_processes(run)) {
    ProcessRuntime runtime(run.run_dir.parent_path());
    runtime.begin_run(run.run_id, run.scenario, run.owner.value_or(Owner{}), {});
    try {
      runtime.teardown();
      report.notes.push_back(fmt::format("{}: stopped its processes", run.run_id));
    } catch (const std::exception& error) {
      report.errors.push_back(error.what());
    }
  }
  // The rule that kept the run's containers on this machine (host_firewall.hpp).
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
  // Every mount the journal names, wherever it is: cleanup_docker looks only in the run's folder.
  for (const auto& [kind, name] : run.created)
    if (kind == "mount" && release_journalled_mount(run, name, report.errors)) ++report.removed.mounts;
  // Decrypted backups the run was restoring or verifying when it died: no plaintext outlives it.
  for (const auto& [kind, name] : run.created) {
    if (kind != staging_kind) continue;
    if (!is_staging_directory(name)) {
      report.errors.push_back(fmt::format("staging {}: not a staging directory of this machine, left alone", name));
      continue;
    }
    std::error_code error;
    if (std::filesystem::remove_all(name, error) > 0) report.notes.push_back(fmt::format("{}: removed the staging directory {}", run.run_id, name));
    if (error) report.errors.push_back(fmt::format("staging {}: cannot remove: {}", name, error.message()));
  }
  // A cgroup journalled before its service's pid file was written (a harness killed in between).
  for (const auto& [kind, name] : run.created) {
    if (kind != "cgroup") continue;
    const std::filesystem::path cgroup = name;
    if (!is_service_cgroup(cgroup) || cgroup.parent_path().filename() != run.run_id) {
      report.errors.push_back(fmt::format("cgroup {}: not one of run {}'s, left alone", name, run.run_id));
      continue;
    }
    if (!kill_service_cgroup(cgroup, std::chrono::seconds(5))) {
      report.errors.push_back(fmt::format("cgroup {}: processes still in it after SIGKILL", name));
      continue;
    }
    std::string error;
    if (!remove_service_cgroup(cgroup, error)) report.errors.push_back(error);
  }
}

CleanupReport cleanup_journalled_run(const JournalState& run, const docker::EngineApi* api) {
  CleanupReport report;
  report.runs.push_back(run.run_id);
  if (uses_engine(run) && !api) {
    report.errors.push_back(fmt::format("run {}: it has containers and no engine answers; run `firedrill cleanup {}` "
                                        "once the engine is back",
                                        run.run_id, run.run_id));
    return report;
  }
  revert_journalled_faults(run, report);
  if (uses_engine(run)) {
    CleanupReport removed = docker::remove_labelled(*api, fmt::format("{}={}", labels::run, run.run_id));
    report.removed.containers += removed.removed.containers;
    report.removed.volumes += removed.removed.volumes;
    report.removed.networks += removed.removed.networks;
    report.errors.insert(report.errors.end(), removed.errors.begin(), removed.errors.end());
    report.removed.mounts += release_size_limited_mounts(run.run_id, false, report.errors);
  }
  release_journalled_resources(run, report);
  return report;
}

CleanupReport reap_orphaned_runs(const std::set<std::string>& spared) {
  CleanupReport report;
  std::optional<docker::EngineApi> api;
  std::map<std::string, bool> labelled_runs;  // run id -> every resource's owner is dead, on this host
  try {
    api.emplace(docker::EngineApi::from_environment());
    labelled_runs = docker::labelled_runs_by_owner_death(*api);
  } catch (const EnvironmentError&) {
    // No usable engine (unreachable or refused DOCKER_HOST): nothing of ours can be there.
    api.reset();
  } catch (const std::exception& error) {
    report.errors.push_back(fmt::format("listing labelled resources: {}", error.what()));
    api.reset();
  }

  const auto merge = [&report](const CleanupReport& part) {
    report.runs.insert(report.runs.end(), part.runs.begin(), part.runs.end());
    report.removed.containers += part.removed.containers;
    report.removed.volumes += part.removed.volumes;
    report.removed.networks += part.removed.networks;
    report.removed.mounts += part.removed.mounts;
    report.errors.insert(report.errors.end(), part.errors.begin(), part.errors.end());
    report.notes.insert(report.notes.end(), part.notes.begin(), part.notes.end());
  };

  // Runs the index lists first: their journals name what no label carries (processes, mounts,
  // faults), and their faults are reverted while their containers still exist.
  std::set<std::string> handled;
  for (const auto& run : indexed_runs()) {
    if (!run.untrusted.empty()) {
      report.errors.push_back(fmt::format("run {}: not acted on: {}", run.run_id, run.untrusted));
      continue;
    }
    if (run.run_id.empty() || spared.count(run.run_id) || run.kept || !owner_dead(run)) continue;
    // Left for `firedrill cleanup` (reported there), rather than failing every run meanwhile.
    if (uses_engine(run) && !api) continue;
    handled.insert(run.run_id);
    try {
      const CleanupReport part = cleanup_journalled_run(run, api ? &*api : nullptr);
      merge(part);
      if (part.errors.empty()) forget_run(run.run_id);
    } catch (const std::exception& error) {
      report.errors.push_back(fmt::format("run {}: {}", run.run_id, error.what()));
    }
  }
  if (!api) return report;

  for (const auto& [run, dead] : labelled_runs) {
    if (!dead || spared.count(run) || handled.count(run)) continue;
    try {
      CleanupReport part = docker::remove_labelled(*api, fmt::format("{}={}", labels::run, run));
      part.runs = {run};
      part.removed.mounts += release_size_limited_mounts(run, false, part.errors);
      merge(part);
    } catch (const std::exception& error) {
      report.errors.push_back(fmt::format("run {}: {}", run, error.what()));
    }
  }
  return report;
}

}  // namespace firedrill
