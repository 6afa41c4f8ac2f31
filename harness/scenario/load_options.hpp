#pragma once
// What the loader checks a scenario against, beyond the format.
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/vocabulary.hpp"

namespace firedrill {

struct LoadOptions {
  Vocabulary vocabulary;                    // what faults, actions and checks may be named
  std::map<std::string, std::string> vars;  // values of ${var.NAME}
  /// Directories outside the run directory a step's `repository:` may name (--repository-root).
  std::vector<std::filesystem::path> repository_roots = {};
  /// The chosen runtime would run a service's `command:` on this machine as root (the process
  /// runtime under root): a scenario's command is then refused, not run with the harness's rights.
  bool commands_would_run_as_root = false;
  /// The runtime the scenario will run on, when it is known: a step needing a capability it has
  /// not got is refused at its line.
  struct RuntimeCapabilities {
    std::string name;
    std::set<Capability> capabilities;
  };
  std::optional<RuntimeCapabilities> runtime = std::nullopt;
};

}  // namespace firedrill
