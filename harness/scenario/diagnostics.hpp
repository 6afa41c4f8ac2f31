#pragma once
// What a person reads when a scenario is wrong: the message at its line and column with the
// source line and a caret, and the nearest valid word for a typo.
#include <string>
#include <string_view>
#include <vector>

#include "harness/scenario/scenario_error.hpp"
#include "harness/scenario/yaml_tree.hpp"

namespace firedrill::scenario_yaml {

/// The diagnostic for `failure`: its source line made printable (tabs and control characters as one
/// character each, at most 160 around the column) and the caret under the column.
ScenarioError::Diagnostic make_diagnostic(std::string_view text, const std::string& file, const Failure& failure);

/// Levenshtein distance where swapping two adjacent letters counts as one edit, the commonest typo.
std::size_t edit_distance(std::string_view a, std::string_view b);

/// " (did you mean 'x'?)" for the closest candidate within two edits, else "".
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates);

/// "a, b and c" (with last_separator " and ").
std::string join(const std::vector<std::string>& words, std::string_view last_separator);

template <typename Map>
std::vector<std::string> keys_of(const Map& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  return keys;
}

}  // namespace firedrill::scenario_yaml
