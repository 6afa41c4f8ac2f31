#include "injectors/loss.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "injectors/netfilter.hpp"

namespace firedrill {

VerbSpec LossInjector::spec() {
  return {"loss",
          "Drop a share of the target's packets at random (iptables statistic match).",
          true,
          {{"percent", ParamType::percent, true, "share of packets dropped, each direction (like 20%)"},
           {"towards", ParamType::service, false, "only traffic to and from this service"}}};
}

std::unique_ptr<ActiveFault> LossInjector::inject(FaultContext& context, const StepSpec& step) {
  auto percent_param = step.params.find("percent");
  if (percent_param == step.params.end())
    throw std::invalid_argument(fmt::format("step '{}': loss needs 'percent'", step.name));
  const double percent = std::stod(percent_param->second.text);
  if (percent < 0 || percent > 100)
    throw std::invalid_argument(fmt::format("step '{}': loss 'percent' must be from 0 to 100", step.name));

  std::vector<netfilter::Rule> rules;
  std::vector<netfilter::Rule> matches;
  nlohmann::json described = {{"percent", percent}};
  auto towards = step.params.find("towards");
  if (towards != step.params.end()) {
    const std::string peer = netfilter::address_of(context.runtime, towards->second.text);
    matches = {{"-s", peer}, {"-d", peer}};
    described["towards"] = towards->second.text;
  } else {
    const auto view = netfilter::network_view(context.runtime, step.target);
    // Its own address is in the subnet too: talking to itself is not network traffic.
    rules.push_back({"-s", view.address, "-d", view.address, "-j", "RETURN"});
    matches = {{"-s", view.subnet}, {"-d", view.subnet}};
  }
  if (percent > 0) {
    for (auto rule : matches) {
      if (percent < 100) {
        for (const char* word : {"-m", "statistic", "--mode", "random", "--probability"}) rule.push_back(word);
        rule.push_back(fmt::format("{:.6f}", percent / 100));
      }
      rule.push_back("-j");
      rule.push_back("DROP");
      rules.push_back(std::move(rule));
    }
  }
  return netfilter::apply_chain(context, "loss", step.target, rules, std::move(described));
}

}  // namespace firedrill
