#include "injectors/pause.hpp"

namespace firedrill {

VerbSpec PauseInjector::spec() {
  return {"pause", "Freeze the target's processes; `duration` resumes them after that long.", true, {}};
}

std::unique_ptr<ActiveFault> PauseInjector::inject(FaultContext& context, const StepSpec& step) {
  auto journal_id = context.journal_inverse({{"type", "unpause"}, {"service", step.target}});
  process_control(context.runtime).pause(step.target);
  Runtime& runtime = context.runtime;
  return std::make_unique<JournalledFault>(context, journal_id, [&runtime, service = step.target] { process_control(runtime).unpause(service); });
}

}  // namespace firedrill
