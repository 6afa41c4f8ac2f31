#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/engine/journal.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker_runtime.hpp"
#include "harness/runtime/process_runtime.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

struct CleanupOptions {
  std::string run_id;
  bool all = false;
};

/// True when the run's journal names a resource of one of these kinds.
bool journalled(const JournalState& run, std::initializer_list<const char*> kinds) {
  for (const auto& [kind, name] : run.created)
    for (const char* wanted : kinds)
      if (kind == wanted) return true;
  return false;
}

/// Reverts the faults a run's journal says are still applied, then removes its resources.
int cleanup_command(const CleanupOptions& options) {
  if (options.run_id.empty() && !options.all)
    throw CLI::ValidationError("cleanup", "name a RUN_ID or pass --all");
  int errors = 0;
  for (const auto& run : indexed_runs()) {
    if (!options.all && run.run_id != options.run_id) continue;
    if (!run.unreverted_inverses.empty()) {
      std::unique_ptr<Runtime> runtime;
      if (journalled(run, {"process"})) runtime = std::make_unique<ProcessRuntime>(run.run_dir.parent_path());
      else runtime = std::make_unique<DockerRuntime>();
      runtime->begin_run(run.run_id, run.scenario, run.owner.value_or(Owner{}), {});
      // Newest first: the reverse of the order they were applied in.
      for (auto it = run.unreverted_inverses.rbegin(); it != run.unreverted_inverses.rend(); ++it) {
        try {
          revert_from_journal(*runtime, *it);
          std::cout << fmt::format("{}: reverted {}\n", run.run_id, it->dump());
        } catch (const std::exception& error) {
          // The container may already be gone, which undoes the fault too.
          std::cout << fmt::format("{}: could not revert {} ({}); removing its resources undoes it\n", run.run_id,
                                   it->dump(), error.what());
        }
      }
    }
  }
  CleanupReport report;
  try {
    report = cleanup_docker(options.run_id, options.all);
  } catch (const EnvironmentError&) {
    // Runs of the process runtime need no engine; a run that used one does.
    bool engine_needed = false, found = false;
    for (const auto& run : indexed_runs()) {
      if (!options.all && run.run_id != options.run_id) continue;
      found = true;
      engine_needed = engine_needed || journalled(run, {"container", "network", "volume"});
    }
    if (engine_needed || (!options.all && !found)) throw;
  }
  for (const auto& run : indexed_runs()) {
    if ((!options.all && run.run_id != options.run_id) || !journalled(run, {"process"})) continue;
    ProcessRuntime runtime(run.run_dir.parent_path());
    runtime.begin_run(run.run_id, run.scenario, run.owner.value_or(Owner{}), {});
    try {
      runtime.teardown();
      std::cout << fmt::format("{}: stopped its processes\n", run.run_id);
    } catch (const std::exception& error) {
      report.errors.push_back(error.what());
    }
  }
  // Every mount the journal names, wherever it is: cleanup_docker looks only in the run's folder.
  for (const auto& run : indexed_runs()) {
    if (!options.all && run.run_id != options.run_id) continue;
    for (const auto& [kind, name] : run.created)
      if (kind == "mount" && release_size_limited_mount(name, report.errors)) ++report.removed.mounts;
  }
  for (const auto& error : report.errors) {
    std::cerr << "firedrill: cleanup: " << error << "\n";
    ++errors;
  }
  for (const auto& run : indexed_runs())
    if (options.all || run.run_id == options.run_id) forget_run(run.run_id);
  std::cout << fmt::format("removed {} containers, {} networks, {} volumes, {} mounts\n", report.removed.containers,
                           report.removed.networks, report.removed.volumes, report.removed.mounts);
  return errors == 0 ? exit_code::ok : exit_code::environment;
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
