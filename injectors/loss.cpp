#include "injectors/loss.hpp"

#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "injectors/network_faults.hpp"

namespace firedrill {
namespace {

std::optional<std::uint64_t> seed_param(const StepSpec& step) { return whole_number_param(step, "seed"); }

/// The target's paths to and from every other service (only `towards`, when given).
StepPaths lossy_paths(const StepSpec& step, const Scenario& scenario) {
  StepPaths lossy;
  const std::string towards = step.param_text("towards");
  for (const auto& other : scenario.services)
    if (towards.empty() || towards == other.name) {
      lossy.paths.push_back({step.target, other.name});
      lossy.paths.push_back({other.name, step.target});
    }
  return lossy;
}

}  // namespace

VerbSpec LossInjector::spec() {
  return {"loss",
          "Drop a share of the target's packets at random (iptables statistic match). On the process runtime the fault "
          "proxy emulates the loss as TCP's retransmission delay: a lost chunk arrives 200 ms later (doubling if lost "
          "again), and what follows it waits.",
          true,
          {{"percent", ParamType::percent, true, "share of packets dropped, each direction (like 20%)"},
           {"towards", ParamType::service, false, "only traffic to and from this service"},
           {"seed", ParamType::integer, false,
            "process runtime: seeds the proxy's draws, so a drill loses the same chunks again (default random)"}},
          [](const StepSpec& step) { seed_param(step); },
          {},
          lossy_paths};
}

std::unique_ptr<ActiveFault> LossInjector::inject(FaultContext& context, const StepSpec& step) {
  const std::optional<double> given = step.param_number("percent");
  if (!given) throw std::invalid_argument(fmt::format("step '{}': loss needs 'percent'", step.name));
  const double percent = *given;
  if (percent < 0 || percent > 100)
    throw std::invalid_argument(fmt::format("step '{}': loss 'percent' must be from 0 to 100", step.name));
  const std::string towards = step.param_text("towards");
  nlohmann::json described = {{"percent", percent}};
  if (!towards.empty()) described["towards"] = towards;
  // Loss reaches the harness's own connections too: a lossy link loses whatever crosses it.
  return network_faults_for(context)->lose(step, {step.target, towards, true, true, true}, percent / 100,
                                           seed_param(step).value_or(std::random_device{}()), std::move(described));
}

}  // namespace firedrill
