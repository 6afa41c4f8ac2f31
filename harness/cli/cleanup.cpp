#include <algorithm>
#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/engine/run_cleanup.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/runtime/runtime.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

struct CleanupOptions {
  std::string run_id;
  bool all = false;
};

/// True when the run's owner is this host's process that is still running (or on another host,
/// which this machine cannot judge): `cleanup --all` leaves such a run alone.
bool may_be_live(const JournalState& run) {
  return !run.owner || run.owner->host != Owner::self().host || run.owner->alive();
}

/// Reverts the faults a run's journal says are still applied, then removes its resources.
/// `--all` takes only journalled runs whose owner is gone, and only resources labelled with
/// their ids: never a live drill, never something labelled by a run firedrill did not journal.
int cleanup_command(const CleanupOptions& options) {
  if (options.run_id.empty() && !options.all)
    throw CLI::ValidationError("cleanup", "name a RUN_ID or pass --all");
  if (!options.run_id.empty() && !is_run_id(options.run_id))
    throw CLI::ValidationError("cleanup", fmt::format("'{}' is not a run id (like 20261201-214547-3f9a1c07b2e4d658)", options.run_id));
  CleanupReport report;
  std::vector<JournalState> runs;
  for (auto& run : indexed_runs()) {
    if (!options.all && run.run_id != options.run_id) continue;
    if (!run.untrusted.empty()) {
      report.errors.push_back(fmt::format("run {}: not acted on: {}", run.run_id, run.untrusted));
      continue;
    }
    if (options.all && !is_run_id(run.run_id)) continue;
    if (options.all && may_be_live(run)) {
      report.notes.push_back(fmt::format("run {}: its owner ({}) may still be running: left alone", run.run_id,
                                         run.owner ? fmt::format("pid {} on {}", run.owner->pid, run.owner->host) : std::string("(not journalled)")));
      continue;
    }
    runs.push_back(std::move(run));
  }

  // Each run undone from its journal, through the runtime it used.
  std::vector<std::string> undone;
  for (const auto& run : runs) {
    try {
      report.merge(undo_run(run));
      undone.push_back(run.run_id);
    } catch (const EnvironmentError& error) {
      report.errors.push_back(error.what());
    }
  }
  // What runtimes find by label of a run named on the command line, journalled or not (its
  // journal may be gone); `--all` never removes what no journal of a dead owner names.
  // A run this runtime never served needs it not; one it served was reported above.
  if (!options.all) report.merge(release_labelled_run(options.run_id, runs.empty()));
  for (const auto& note : report.notes) std::cout << note << "\n";
  for (const auto& error : report.errors) std::cerr << "firedrill: cleanup: " << terminal_text(error) << "\n";
  for (const auto& run_id : undone) forget_run(run_id);
  std::cout << fmt::format("removed {} containers, {} networks, {} volumes, {} mounts\n", report.removed.containers,
                           report.removed.networks, report.removed.volumes, report.removed.mounts);
  return report.errors.empty() ? exit_code::ok : exit_code::environment;
}

}  // namespace

void setup_cleanup(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<CleanupOptions>();
  auto* cleanup = app.add_subcommand("cleanup", "Undo what a crashed or killed run left: faults, containers, networks, volumes, processes");
  cleanup->add_option("run_id", options->run_id, "the run to clean up");
  cleanup->add_flag("--all", options->all, "every journalled run whose owner is gone (never a live drill)");
  cleanup->callback([options, &result] { result.exit_code = cleanup_command(*options); });
}

}  // namespace firedrill
