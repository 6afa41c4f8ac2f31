#include "core/vocabulary.hpp"

#include <algorithm>

namespace firedrill {

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::string: return "string";
    case ParamType::integer: return "integer";
    case ParamType::number: return "number";
    case ParamType::boolean: return "boolean";
    case ParamType::duration: return "duration";
    case ParamType::percent: return "percent";
    case ParamType::service: return "service";
    case ParamType::string_list: return "string list";
    case ParamType::service_list: return "service list";
  }
  return "unknown";
}

const char* to_string(Capability capability) {
  switch (capability) {
    case Capability::process_control: return "signal, pause or restart its services";
    case Capability::network_namespaces: return "enter the network namespaces of its services";
    case Capability::file_access: return "reach the files of its services";
    case Capability::storage: return "size, remove or destroy the storage of its services";
  }
  return "unknown";
}

std::vector<NetworkPath> paths_needing_proxies(const Scenario& scenario, const Vocabulary& vocabulary,
                                               bool faults_on_proxies) {
  std::vector<NetworkPath> needed;
  for (const auto& step : scenario.steps) {
    if (step.verb != StepVerb::fault && step.verb != StepVerb::action) continue;
    const auto& specs = step.verb == StepVerb::fault ? vocabulary.faults : vocabulary.actions;
    const auto spec = specs.find(step.what);
    if (spec == specs.end() || !spec->second.paths) continue;
    const StepPaths acted_on = spec->second.paths(step, scenario);
    if (!faults_on_proxies && !acted_on.proxied_on_every_runtime) continue;
    for (const auto& path : acted_on.paths)
      if (path.client != path.peer && std::find(needed.begin(), needed.end(), path) == needed.end())
        needed.push_back(path);
  }
  return needed;
}

}  // namespace firedrill
