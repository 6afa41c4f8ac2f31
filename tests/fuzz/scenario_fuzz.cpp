// Any bytes as a scenario file: parse_scenario either returns a checked scenario or throws
// ScenarioError with at least one diagnostic; nothing else may escape, crash or run away.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "checks/registry.hpp"
#include "harness/actions/action.hpp"
#include "harness/scenario/loader.hpp"
#include "injectors/registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace firedrill;
  static const LoadOptions options{Vocabulary{fault_specs(), action_specs(), check_specs()},
                                   {{"IMAGE", "postgres:15"}, {"PORT", "5432"}}};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    parse_scenario(text, "fuzz.yaml", options);
  } catch (const ScenarioError& error) {
    if (error.diagnostics().empty()) std::abort();
  }
  return 0;
}
