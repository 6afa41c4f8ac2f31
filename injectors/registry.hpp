#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "injectors/injector.hpp"

namespace firedrill {

struct FaultEntry {
  VerbSpec spec;
  std::function<std::unique_ptr<Injector>()> make;
};

/// Every fault a scenario may name, keyed by its word. Built once; a duplicate name is a
/// programming error and aborts at start-up.
const std::map<std::string, FaultEntry>& fault_registry();

/// The faults' specs, for the scenario Vocabulary and `firedrill faults`.
std::map<std::string, VerbSpec> fault_specs();

}  // namespace firedrill

namespace firedrill {

/// Reverts one journalled inverse of a run whose owner died (used by `firedrill cleanup`).
void revert_from_journal(Runtime& runtime, const nlohmann::json& inverse);

}  // namespace firedrill
