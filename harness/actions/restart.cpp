#include "harness/actions/restart.hpp"

#include <fmt/format.h>

namespace firedrill {

VerbSpec RestartAction::spec() {
  return {"restart",
          "Restart the target's container (start it when it is stopped).",
          true,
          {{"grace", ParamType::duration, false, "time between TERM and KILL when it runs, default 10s"}}};
}

nlohmann::json RestartAction::run(ActionContext& context, const StepSpec& step) {
  auto configured = step.params.find("grace");
  auto grace = configured == step.params.end() || !configured->second.duration
                   ? std::chrono::seconds(10)
                   : std::chrono::duration_cast<std::chrono::seconds>(*configured->second.duration);
  bool was_running = context.runtime.is_running(step.target);
  try {
    if (was_running)
      process_control(context.runtime).restart(step.target, grace);
    else
      process_control(context.runtime).start_again(step.target);
  } catch (const std::exception& error) {
    throw ActionFailed(fmt::format("could not restart '{}': {}", step.target, error.what()));
  }
  return {{"was_running", was_running}};
}

}  // namespace firedrill
