#pragma once
// A recovery operation of the runbook (restart, promote, restore, ...). One file per action, one
// line in registry.cpp. An action that cannot do its job throws ActionFailed: the step fails and
// the drill's verdict says why.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/history.hpp"
#include "core/model.hpp"
#include "core/vocabulary.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

class ActionFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Service;

struct ActionContext {
  Runtime& runtime;
  EventLog& events;
  const Clock& clock;
  /// The run's directory (<out>/<run-id>); its backups/ folder is the run's backup repository.
  std::filesystem::path run_directory;
  /// The scenario's services by name (credentials, ports); nullptr for a name not in the scenario.
  std::function<const Service*(const std::string& name)> service;
  /// Every service of the run, standbys included, in the scenario's order.
  std::vector<std::string> service_names = {};
  /// Starts a destroyed service again, empty, as bring-up started it (same name, address and
  /// published ports), and returns once it is ready; unset where the engine cannot.
  std::function<void(const std::string& name)> rebuild_service = {};
  /// Where services reach each other through fault proxies (the process runtime), points every
  /// proxy in front of `name` at `to` and returns the clients behind them; unset elsewhere.
  std::function<std::vector<std::string>(const std::string& name, const std::string& to)> repoint_proxies = {};
  /// Journals a resource of this machine the action made (kind, name) for `cleanup` to remove
  /// after a crash; unset where the run has no journal.
  std::function<void(const std::string& kind, const std::string& name)> journal_create = {};
  /// The machine's backup manifest key (in firedrill's state directory, outside every repository):
  /// it authenticates the manifests of unencrypted backups.
  std::filesystem::path manifest_key_file = {};
};

class Action {
 public:
  virtual ~Action() = default;
  /// Performs the action on step.target; returns details for the step's record.
  virtual nlohmann::json run(ActionContext& context, const StepSpec& step) = 0;
};

struct ActionEntry {
  VerbSpec spec;
  std::function<std::unique_ptr<Action>()> make;
};

/// Every action a scenario may name; a duplicate name aborts at start-up.
const std::map<std::string, ActionEntry>& action_registry();
std::map<std::string, VerbSpec> action_specs();

}  // namespace firedrill
