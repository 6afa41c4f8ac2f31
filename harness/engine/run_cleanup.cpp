#include "harness/engine/run_cleanup.hpp"

#include <memory>

#include <fmt/format.h>

#include "harness/runtime/runtime_choice.hpp"
#include "injectors/registry.hpp"

namespace firedrill {

void revert_journalled_faults(const JournalState& run, CleanupReport& report) {
  if (run.unreverted_inverses.empty()) return;
  const RuntimeEntry* entry = runtime_of(run);
  if (!entry) {
    report.notes.push_back(fmt::format("{}: its journal names no runtime's resources; no fault to revert", run.run_id));
    return;
  }
  std::unique_ptr<Runtime> runtime;
  try {
    runtime = entry->make(run.run_dir.parent_path());
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

CleanupReport undo_run(const JournalState& run) {
  CleanupReport report;
  report.runs.push_back(run.run_id);
  revert_journalled_faults(run, report);
  if (const RuntimeEntry* entry = runtime_of(run)) {
    try {
      entry->release(run, report);
    } catch (const EnvironmentError& error) {
      throw EnvironmentError(fmt::format("run {}: it has {} resources and {}; run `firedrill cleanup {}` once it answers",
                                         run.run_id, entry->name, error.what(), run.run_id));
    }
  }
  release_journalled_files(run, report);
  return report;
}

CleanupReport release_labelled_run(const std::string& run_id, bool must_reach) {
  CleanupReport report;
  for (const auto& [name, entry] : runtime_registry()) {
    if (!entry.release_unjournalled) continue;
    try {
      CleanupReport removed = entry.release_unjournalled(run_id);
      removed.runs.clear();
      report.merge(removed);
    } catch (const EnvironmentError&) {
      if (must_reach) throw;
    }
  }
  return report;
}

CleanupReport reap_orphaned_runs(const std::set<std::string>& spared) {
  CleanupReport report;
  // Runs the index lists first: their journals name what no label carries (processes, mounts,
  // faults), and their faults are reverted while their containers still exist.
  std::set<std::string> handled;
  for (const auto& run : indexed_runs()) {
    if (!run.untrusted.empty()) {
      report.errors.push_back(fmt::format("run {}: not acted on: {}", run.run_id, run.untrusted));
      continue;
    }
    if (run.run_id.empty() || spared.count(run.run_id) || run.kept || !owner_dead(run)) continue;
    handled.insert(run.run_id);
    try {
      const CleanupReport part = undo_run(run);
      report.merge(part);
      if (part.errors.empty()) forget_run(run.run_id);
    } catch (const EnvironmentError&) {
      // Left for `firedrill cleanup` (reported there), rather than failing every run meanwhile.
    } catch (const std::exception& error) {
      report.errors.push_back(fmt::format("run {}: {}", run.run_id, error.what()));
    }
  }

  for (const auto& [name, entry] : runtime_registry()) {
    if (!entry.orphaned_unjournalled_runs) continue;
    std::set<std::string> orphaned;
    try {
      orphaned = entry.orphaned_unjournalled_runs();
    } catch (const EnvironmentError&) {
      continue;  // Not reachable (no engine, or a refused DOCKER_HOST): nothing of ours can be there.
    } catch (const std::exception& error) {
      report.errors.push_back(fmt::format("listing {} leftovers: {}", name, error.what()));
      continue;
    }
    for (const auto& run : orphaned) {
      if (spared.count(run) || handled.count(run)) continue;
      try {
        CleanupReport part = entry.release_unjournalled(run);
        part.runs = {run};
        report.merge(part);
      } catch (const std::exception& error) {
        report.errors.push_back(fmt::format("run {}: {}", run, error.what()));
      }
    }
  }
  return report;
}

}  // namespace firedrill
