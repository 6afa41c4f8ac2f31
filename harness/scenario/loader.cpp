#include "harness/scenario/loader.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "core/hashing.hpp"
#include "harness/scenario/diagnostics.hpp"
#include "harness/scenario/reader.hpp"
#include "harness/scenario/yaml_tree.hpp"

namespace firedrill {

using scenario_yaml::Failure;
using scenario_yaml::Node;

Scenario parse_scenario(std::string_view text, const std::string& file_name, const LoadOptions& options) {
  Scenario scenario;
  scenario.file = file_name;
  try {
    if (text.size() > max_scenario_bytes)
      throw ScenarioError(
          {ScenarioError::Diagnostic{SourceLocation{file_name, 0, 0},
                                     fmt::format("the scenario is larger than 1 MiB ({} bytes)", text.size()), "", 0}});
    Node root = scenario_yaml::read_tree(text);
    scenario_yaml::substitute_vars(root, options.vars);
    scenario.sha256 = sha256_hex(text);
    scenario.vars = options.vars;
    scenario_yaml::ScenarioReader(options, scenario).read(root);
  } catch (const Failure& failure) {
    throw ScenarioError({scenario_yaml::make_diagnostic(text, file_name, failure)});
  }
  return scenario;
}

Scenario load_scenario(const std::filesystem::path& file, const LoadOptions& options) {
  const std::string name = file.string();
  auto unreadable = [&](const std::string& why) {
    return ScenarioError({ScenarioError::Diagnostic{SourceLocation{name, 0, 0}, why, "", 0}});
  };
  std::ifstream in(file, std::ios::binary);
  if (!in) throw unreadable(fmt::format("cannot read the scenario: {}", std::strerror(errno)));
  std::string bytes(max_scenario_bytes + 1, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) throw unreadable("cannot read the scenario");
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  if (bytes.size() > max_scenario_bytes) throw unreadable("the scenario is larger than 1 MiB");
  return parse_scenario(bytes, name, options);
}

}  // namespace firedrill
