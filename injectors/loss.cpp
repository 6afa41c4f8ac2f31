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
  netfilter::Rule action;
  if (percent < 100) action = {"-m", "statistic", "--mode", "random", "--probability", fmt::format("{:.6f}", percent / 100)};
  action.push_back("-j");
  action.push_back("DROP");
  // Paths through a fault proxy are matched by the proxy's port in the client's namespace.
  std::vector<std::string> peers;
  auto towards = step.params.find("towards");
  if (towards != step.params.end()) {
    const std::string peer = netfilter::address_of(context.runtime, towards->second.text);
    matches = {{"-s", peer}, {"-d", peer}};
    described["towards"] = towards->second.text;
    peers.push_back(towards->second.text);
  } else {
    const auto view = netfilter::network_view(context.runtime, step.target);
    // Its own address is in the subnet too: talking to itself is not network traffic.
    rules.push_back({"-s", view.address, "-d", view.address, "-j", "RETURN"});
    matches = {{"-s", view.subnet}, {"-d", view.subnet}};
    peers = netfilter::proxied_peers(context, step.target);
  }
  std::map<std::string, std::vector<netfilter::Rule>> rules_by_service;
  if (percent > 0) {
    for (const auto& peer : peers)
      for (auto& [service, extra] : netfilter::proxied_path_rules(context, step.target, peer, {}, action))
        rules_by_service[service].insert(rules_by_service[service].end(), extra.begin(), extra.end());
    for (auto rule : matches) {
      rule.insert(rule.end(), action.begin(), action.end());
      rules.push_back(std::move(rule));
    }
  }
  auto& own = rules_by_service[step.target];
  own.insert(own.end(), rules.begin(), rules.end());
  return netfilter::apply_chains(context, "loss", rules_by_service, std::move(described));
}

}  // namespace firedrill
