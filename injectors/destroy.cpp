#include "injectors/destroy.hpp"

#include <algorithm>

#include "checks/history.hpp"

namespace firedrill {

VerbSpec DestroyInjector::spec() {
  return {"destroy",
          "Destroy the target as a lost machine: its container, volumes and data are removed; nothing comes back "
          "until the runbook rebuilds and restores it.",
          true,
          {{"also", ParamType::service_list, false, "more services destroyed in the same instant, e.g. [cache, app]"}}};
}

std::unique_ptr<ActiveFault> DestroyInjector::inject(FaultContext& context, const StepSpec& step) {
  std::vector<std::string> destroyed{step.target};
  auto also = step.params.find("also");
  if (also != step.params.end())
    for (const auto& service : also->second.items)
      if (std::find(destroyed.begin(), destroyed.end(), service) == destroyed.end()) destroyed.push_back(service);
  for (const auto& service : destroyed) {
    storage(context.runtime).destroy(service);
    context.events.record("service.destroyed", {{"service", service}});
  }
  return std::make_unique<JournalledFault>(context, std::string(), [] {}, nlohmann::json{{"destroyed", destroyed}});
}

}  // namespace firedrill
