#pragma once
// Reads a scenario file (format v1, DESIGN.md) into the model, checking every field against the
// format and the vocabulary of faults, actions and checks.
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/duration.hpp"
#include "core/model.hpp"
#include "core/vocabulary.hpp"
#include "harness/scenario/load_options.hpp"
#include "harness/scenario/scenario_error.hpp"

namespace firedrill {

/// The largest scenario file accepted.
inline constexpr std::size_t max_scenario_bytes = 1024 * 1024;

/// Reads `file` (at most max_scenario_bytes) and parses it with parse_scenario, naming the file
/// as given in every diagnostic. Throws ScenarioError, also when the file cannot be read.
Scenario load_scenario(const std::filesystem::path& file, const LoadOptions& options);

/// Parses and validates a scenario held in memory. `file_name` is used in diagnostics and stored
/// in Scenario::file. Returns a scenario whose every field was checked, defaults filled in
/// (images, ports, health paths, probes, step timeouts); throws ScenarioError otherwise. Rejects
/// hostile input (invalid UTF-8, anchors and aliases, nesting deeper than 64, more than 100000
/// nodes, more than max_scenario_bytes) quickly and without deep recursion.
Scenario parse_scenario(std::string_view text, const std::string& file_name, const LoadOptions& options);

}  // namespace firedrill
