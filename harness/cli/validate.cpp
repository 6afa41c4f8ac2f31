#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"
#include "harness/runtime/runtime_choice.hpp"

namespace firedrill {
namespace {

struct ValidateOptions {
  std::vector<std::string> scenarios;
  std::vector<std::string> vars;
  std::vector<std::string> repository_roots;  // --repository-root: where `repository:` may point
  std::string runtime;                        // --runtime: also check what the scenario asks of it
};

int validate_command(const ValidateOptions& options) {
  LoadOptions load;
  load.vocabulary = registered_vocabulary();
  load.vars = parse_vars(options.vars);
  load.repository_roots.assign(options.repository_roots.begin(), options.repository_roots.end());
  if (!options.runtime.empty()) check_for_runtime(load, choose_runtime_or_refuse(options.runtime, false));
  int exit = exit_code::ok;
  for (const auto& file : options.scenarios) {
    try {
      auto scenario = load_scenario(file, load);
      std::cout << fmt::format("{}: ok ({}: {} services, {} steps, {} checks)\n", file, scenario.name,
                               scenario.services.size(), scenario.steps.size(), scenario.checks.size());
    } catch (const ScenarioError& error) {
      std::cerr << error.what() << "\n";
      exit = exit_code::invalid_input;
    }
  }
  return exit;
}

}  // namespace

void setup_validate(CLI::App& app, CommandResult& result) {
  auto options = std::make_shared<ValidateOptions>();
  auto* validate = app.add_subcommand("validate", "Check scenarios (parse + semantic checks); starts nothing");
  validate->add_option("scenario", options->scenarios, "scenario files")->required();
  validate->add_option("--var", options->vars, "KEY=VALUE for ${var.KEY} in scenarios");
  validate->add_option("--repository-root", options->repository_roots,
                       "a directory outside the run directory that a step's repository: may name (repeatable)")
      ->check(CLI::ExistingDirectory);
  validate->add_option("--runtime", options->runtime,
                       std::string("also check that this runtime can do what the steps ask (") + runtime_choices + ")");
  validate->callback([options, &result] { result.exit_code = validate_command(*options); });
}

}  // namespace firedrill
