#include "injectors/kill.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {

VerbSpec KillInjector::spec() {
  return {"kill",
          "Send a signal to the target's main process (the container stops unless it handles it).",
          true,
          {{"signal", ParamType::string, false, "signal name, default KILL (TERM, INT, HUP, ...)"},
           {"restart_after", ParamType::duration, false, "start the container again after this long"},
           {"via", ParamType::string, false,
            "engine: through the engine even where firedrill signals the process straight from this machine "
            "(the default, as root beside a local engine)"}},
          check_params};
}

void KillInjector::check_params(const StepSpec& step) {
  const std::string via = step.param_text("via");
  if (!via.empty() && via != "engine")
    throw std::invalid_argument(fmt::format("step '{}': kill 'via' can only be engine, not '{}'", step.name, via));
}

std::optional<Duration> KillInjector::revert_after(const StepSpec& step) const {
  auto restart_after = step.params.find("restart_after");
  if (restart_after == step.params.end()) return std::nullopt;
  return restart_after->second.duration;
}

std::unique_ptr<ActiveFault> KillInjector::inject(FaultContext& context, const StepSpec& step) {
  auto configured = step.params.find("signal");
  std::string signal = configured == step.params.end() ? "KILL" : configured->second.text;
  std::string journal_id;
  if (step.params.count("restart_after"))
    journal_id = context.journal_inverse({{"type", "start"}, {"service", step.target}});
  const std::string via = process_control(context.runtime)
                              .send_signal(step.target, signal,
                                           step.param_text("via") == "engine" ? SignalRoute::engine : SignalRoute::fastest);
  return std::make_unique<JournalledFault>(context, journal_id, start_again_if_stopped(context.runtime, step.target),
                                           nlohmann::json{{"signal", signal}, {"via", via}});
}

}  // namespace firedrill
