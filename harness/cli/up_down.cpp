#include <unistd.h>

#include <iostream>

#include <fmt/format.h>

#include "core/interrupt.hpp"
#include "harness/cli/commands.hpp"
#include "harness/engine/drill.hpp"
#include "harness/engine/run_cleanup.hpp"
#include "harness/runtime/journal.hpp"
#include "harness/runtime/runtime_choice.hpp"
#include "reports/writers.hpp"

namespace firedrill {
namespace {

struct UpOptions {
  std::string scenario;
  std::string out = "firedrill-runs";
  std::vector<std::string> vars;
  std::vector<std::string> repository_roots;  // --repository-root: where `repository:` may point
  std::string runtime = "auto";
};

/// Brings a scenario's services up and leaves them running: no workload, no steps, no checks.
int up_command(const UpOptions& options) {
  LoadOptions load;
  load.vocabulary = registered_vocabulary();
  load.vars = parse_vars(options.vars);
  load.repository_roots.assign(options.repository_roots.begin(), options.repository_roots.end());
  const std::string runtime_name = choose_runtime_or_refuse(options.runtime, true);
  check_for_runtime(load, runtime_name);
  Scenario scenario = load_scenario(options.scenario, load);
  scenario.workload.clear();
  scenario.steps.clear();
  scenario.checks.clear();
  scenario.targets.clear();
  install_interrupt_handlers();
  auto runtime = make_runtime(runtime_name, options.out);
  DrillOptions drill_options;
  drill_options.out_dir = options.out;
  drill_options.keep = true;
  drill_options.mode = "up";
  auto result = run_drill(scenario, *runtime, drill_options);
  if (!result.environment_error.empty()) {
    std::cerr << "firedrill: environment error: " << terminal_text(result.environment_error) << "\n";
    return exit_code::environment;
  }
  std::cout << fmt::format("run {} is up:\n", result.run_id);
  for (const auto& service : result.report["environment"]["services"])
    std::cout << fmt::format("  {:<10} {:<10} {}\n", service.value("name", ""), service.value("kind", ""),
                             service.value("endpoint", ""));
  std::cout << fmt::format("remove it with: firedrill down {}\n", result.run_id);
  return result.exit_code == exit_code::interrupted ? exit_code::interrupted : exit_code::ok;
}

}  // namespace

void setup_up_down(CLI::App& app, CommandResult& result) {
  auto up_options = std::make_shared<UpOptions>();
  auto* up = app.add_subcommand("up", "Bring a scenario's services up and leave them running");
  up->add_option("scenario", up_options->scenario, "scenario file")->required()->check(CLI::ExistingFile);
  up->add_option("--out", up_options->out, "directory of run directories")->capture_default_str();
  up->add_option("--var", up_options->vars, "KEY=VALUE for ${var.KEY}");
  up->add_option("--repository-root", up_options->repository_roots,
                 "a directory outside the run directory that a step's repository: may name (repeatable)")
      ->check(CLI::ExistingDirectory);
  up->add_option("--runtime", up_options->runtime, runtime_choices)->capture_default_str();
  up->callback([up_options, &result] { result.exit_code = up_command(*up_options); });

  auto run_id = std::make_shared<std::string>();
  auto* down = app.add_subcommand("down", "Remove the environment of a run left up (`up`, `run --keep`)");
  down->add_option("run_id", *run_id, "the run")->required();
  down->callback([run_id, &result] {
    if (!is_run_id(*run_id))
      throw CLI::ValidationError("down", fmt::format("'{}' is not a run id (like 20261201-214547-3f9a1c07b2e4d658)", *run_id));
    CleanupReport report;
    bool journalled = false;
    for (const auto& run : indexed_runs()) {
      if (run.run_id != *run_id) continue;
      if (!run.untrusted.empty()) throw EnvironmentError(fmt::format("run {}: not acted on: {}", run.run_id, run.untrusted));
      journalled = true;
      report.merge(undo_run(run));
    }
    // A run whose journal is gone still has its labels.
    if (!journalled) report = release_labelled_run(*run_id, true);
    forget_run(*run_id);
    std::cout << fmt::format("removed {} containers, {} networks, {} volumes\n", report.removed.containers,
                             report.removed.networks, report.removed.volumes);
    result.exit_code = report.errors.empty() ? exit_code::ok : exit_code::environment;
  });
}

}  // namespace firedrill
