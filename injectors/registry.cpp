#include "injectors/registry.hpp"

namespace firedrill {

const std::map<std::string, FaultEntry>& fault_registry() {
  static const std::map<std::string, FaultEntry> registry;
  return registry;
}

std::map<std::string, VerbSpec> fault_specs() {
  std::map<std::string, VerbSpec> specs;
  for (const auto& [name, entry] : fault_registry()) specs.emplace(name, entry.spec);
  return specs;
}

}  // namespace firedrill
