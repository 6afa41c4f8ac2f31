#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/engine/journal.hpp"
#include "harness/runtime/cleanup.hpp"

namespace firedrill {
namespace {

struct CleanupOptions {
  std::string run_id;
  bool all = false;
};

/// True when the run's journal names a resource of the engine.
bool uses_engine(const JournalState& run) {
  for (const auto& [kind, name] : run.created)
    if (kind == "container" || kind == "network" || kind == "volume") return true;
  return false;
}

/// Reverts the faults a run's journal says are still applied, then removes its resources.
int cleanup_command(const CleanupOptions& options) {
  if (options.run_id.empty() && !options.all)
    throw CLI::ValidationError("cleanup", "name a RUN_ID or pass --all");
  std::vector<JournalState> runs;
  for (auto& run : indexed_runs())
    if (options.all || run.run_id == options.run_id) runs.push_back(std::move(run));

  CleanupReport report;
  for (const auto& run : runs) revert_journalled_faults(run, report);
  try {
    const CleanupReport removed = cleanup_docker(options.run_id, options.all);
    report.removed = removed.removed;
    report.errors.insert(report.errors.end(), removed.errors.begin(), removed.errors.end());
  } catch (const EnvironmentError&) {
    // Runs of the process runtime need no engine; a run that used one does.
    const bool engine_needed = std::any_of(runs.begin(), runs.end(), uses_engine);
    if (engine_needed || (!options.all && runs.empty())) throw;
  }
  for (const auto& run : runs) release_journalled_resources(run, report);

  for (const auto& note : report.notes) std::cout << note << "\n";
  for (const auto& error : report.errors) std::cerr << "firedrill: cleanup: " << error << "\n";
  for (const auto& run : runs) forget_run(run.run_id);
  std::cout << fmt::format("removed {} containers, {} networks, {} volumes, {} mounts\n", report.removed.containers,
                           report.removed.networks, report.removed.volumes, report.removed.mounts);
  return report.errors.empty() ? exit_code::ok : exit_code::environment;
}

}  // namespace

void setup_cleanup(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<CleanupOptions>();
  auto* cleanup = app.add_subcommand("cleanup", "Undo what a crashed or killed run left: faults, containers, networks, volumes, processes");
  cleanup->add_option("run_id", options->run_id, "the run to clean up");
  cleanup->add_flag("--all", options->all, "every firedrill run on this engine");
  cleanup->callback([options, &result] { result.exit_code = cleanup_command(*options); });
}

}  // namespace firedrill
