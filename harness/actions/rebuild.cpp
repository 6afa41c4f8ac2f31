#include "harness/actions/rebuild.hpp"

#include <fmt/format.h>

namespace firedrill {

VerbSpec RebuildAction::spec() {
  return {"rebuild",
          "Start a destroyed service again as a new, empty container with its name, address and ports; wait until "
          "it answers. Its data comes back with `restore`.",
          true,
          {}};
}

nlohmann::json RebuildAction::run(ActionContext& context, const StepSpec& step) {
  if (!context.rebuild_service) throw ActionFailed("this engine cannot rebuild services");
  if (context.runtime.is_running(step.target))
    throw ActionFailed(fmt::format("'{}' is running; rebuild brings back a destroyed service", step.target));
  const Micros started = context.clock.now();
  try {
    context.rebuild_service(step.target);
  } catch (const std::exception& error) {
    throw ActionFailed(fmt::format("could not rebuild '{}': {}", step.target, error.what()));
  }
  return {{"ready_seconds", static_cast<double>(context.clock.now() - started) / 1e6}};
}

}  // namespace firedrill
