#include "harness/runtime/process/program_recipe.hpp"

#include <fmt/format.h>

#include "harness/runtime/process/command_line.hpp"

namespace firedrill {

bool is_idle_command(const std::vector<std::string>& command) {
  return command == std::vector<std::string>{"sleep", "infinity"};
}

Launch idle_launch(std::map<std::string, std::string> environment) {
  return {{resolve_program("sleep"), "infinity"}, std::move(environment), false};
}

void refuse_command(const ContainerSpec& spec, const std::string& binary) {
  throw EnvironmentError(fmt::format(
      "the process runtime runs {} itself and cannot run the command '{}{}' of '{}' (it runs the server's own "
      "options, firedrill's preparation scripts and `sleep infinity`; Patroni and custom entrypoints need "
      "--runtime docker)",
      std::filesystem::path(binary).filename().string(), spec.command.front(), spec.command.size() > 1 ? " ..." : "",
      spec.service));
}

std::string as_program_user(const ServicePlace& place, const Program& program) {
  if (!place.run_as) return "";
  return fmt::format("setpriv --reuid {0} --regid {0} --init-groups ", program.user);
}

std::string quoted_arguments(const std::vector<std::string>& arguments) {
  std::string text;
  for (const auto& argument : arguments) text += " '" + argument + "'";
  return text;
}

}  // namespace firedrill
