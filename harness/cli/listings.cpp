#include <iostream>

#include <fmt/format.h>

#include "harness/cli/commands.hpp"

namespace firedrill {
namespace {

void print_specs(const std::map<std::string, VerbSpec>& specs) {
  for (const auto& [name, spec] : specs) {
    std::cout << fmt::format("{:<20} {}\n", name, spec.help);
    for (const auto& param : spec.params)
      std::cout << fmt::format("    {:<16} {:<10} {}{}\n", param.name, to_string(param.type), param.required ? "(required) " : "",
                               param.help);
  }
}

}  // namespace

void setup_listings(CLI::App& app, CommandResult&) {
  app.add_subcommand("faults", "List the faults a scenario can inject, with their parameters")
      ->callback([] { print_specs(registered_vocabulary().faults); });
  app.add_subcommand("actions", "List the recovery actions a scenario can run, with their parameters")
      ->callback([] { print_specs(registered_vocabulary().actions); });
  app.add_subcommand("checks", "List the checks a scenario can ask for, with their parameters")
      ->callback([] { print_specs(registered_vocabulary().checks); });
}

}  // namespace firedrill
