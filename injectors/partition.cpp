#include "injectors/partition.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "injectors/network_faults.hpp"

namespace firedrill {
namespace {

bool flag(const StepSpec& step, const std::string& name) {
  auto found = step.params.find(name);
  return found != step.params.end() && found->second.text == "true";
}

/// Every path between the services the step cuts apart, both ways.
StepPaths cut_paths(const StepSpec& step, const Scenario& scenario) {
  StepPaths cut;
  if (auto between = step.params.find("between"); between != step.params.end() && between->second.items.size() == 2) {
    cut.paths.push_back({between->second.items[0], between->second.items[1]});
    cut.paths.push_back({between->second.items[1], between->second.items[0]});
  }
  if (auto isolate = step.params.find("isolate"); isolate != step.params.end())
    for (const auto& other : scenario.services) {
      cut.paths.push_back({isolate->second.text, other.name});
      cut.paths.push_back({other.name, isolate->second.text});
    }
  return cut;
}

}  // namespace

VerbSpec PartitionInjector::spec() {
  return {"partition",
          "Drop the network traffic between services: `isolate` one from all others, or cut `between` two.",
          false,
          {{"isolate", ParamType::service, false, "cut this service from every other service of the run"},
           {"between", ParamType::service_list, false, "cut only these two services from each other"},
           {"one_way", ParamType::boolean, false, "with between [A, B]: drop A→B only; B→A still arrives"},
           {"include_clients", ParamType::boolean, false,
            "with isolate: also cut the harness's own path through the published ports (default false)"}},
          check_params,
          [](const StepSpec& step) {
            // The harness's own path reaches a service only where its network namespace can be entered.
            return flag(step, "include_clients") ? std::vector<Capability>{Capability::network_namespaces}
                                                 : std::vector<Capability>{};
          },
          cut_paths};
}

void PartitionInjector::check_params(const StepSpec& step) {
  const bool isolate = step.params.count("isolate") != 0;
  const bool between = step.params.count("between") != 0;
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("step '{}': partition {}", step.name, why));
  };
  if (isolate == between) fail("needs exactly one of 'isolate: SERVICE' or 'between: [A, B]'");
  if (between) {
    const auto& pair = step.params.at("between").items;
    if (pair.size() != 2 || pair[0] == pair[1]) fail("'between' must name exactly two different services");
    if (step.params.count("include_clients")) fail("'include_clients' applies to 'isolate' only");
  }
  if (isolate && step.params.count("one_way")) fail("'one_way' applies to 'between' only");
}

std::unique_ptr<ActiveFault> PartitionInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  auto network = network_faults_for(context);
  if (step.params.count("isolate")) {
    const std::string service = step.params.at("isolate").text;
    const bool include_clients = flag(step, "include_clients");
    return network->cut(step, {service, "", true, true, include_clients},
                        {{"isolate", service}, {"include_clients", include_clients}});
  }
  const auto& pair = step.params.at("between").items;
  const bool one_way = flag(step, "one_way");
  return network->cut(step, {pair[0], pair[1], true, !one_way, false}, {{"between", pair}, {"one_way", one_way}});
}

}  // namespace firedrill
