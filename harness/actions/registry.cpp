#include "harness/actions/action.hpp"
#include "harness/actions/backup.hpp"
#include "harness/actions/promote.hpp"
#include "harness/actions/rebuild.hpp"
#include "harness/actions/repoint.hpp"
#include "harness/actions/restart.hpp"
#include "harness/actions/restore.hpp"
#include "harness/actions/sql.hpp"
#include "harness/actions/verify_backup.hpp"

namespace firedrill {
namespace {

/// Registers ActionType; `needs` is what it asks of the runtime beyond the core, whatever its
/// parameters.
template <typename ActionType>
void add(std::map<std::string, ActionEntry>& registry, std::vector<Capability> needs = {}) {
  VerbSpec spec = ActionType::spec();
  if (!needs.empty()) spec.needs = always_needs(std::move(needs));
  std::string word = spec.name;
  register_unique(registry, word, ActionEntry{std::move(spec), [] { return std::make_unique<ActionType>(); }}, "action");
}

std::map<std::string, ActionEntry> build_registry() {
  std::map<std::string, ActionEntry> registry;
  add<RestartAction>(registry, {Capability::process_control});
  add<BackupAction>(registry, {Capability::file_access});
  add<VerifyBackupAction>(registry, {Capability::process_control, Capability::file_access, Capability::storage});
  add<RestoreAction>(registry, {Capability::process_control, Capability::file_access, Capability::storage});
  add<PromoteAction>(registry);
  add<RepointAction>(registry);
  add<SqlAction>(registry);
  add<RebuildAction>(registry);
  return registry;
}

}  // namespace

const std::map<std::string, ActionEntry>& action_registry() {
  static const std::map<std::string, ActionEntry> registry = build_registry();
  return registry;
}

std::map<std::string, VerbSpec> action_specs() {
  std::map<std::string, VerbSpec> specs;
  for (const auto& [name, entry] : action_registry()) specs.emplace(name, entry.spec);
  return specs;
}

}  // namespace firedrill
