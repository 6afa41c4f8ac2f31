#include "injectors/loss.hpp"

#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "injectors/netfilter.hpp"
#include "injectors/proxy/fault_proxy.hpp"

namespace firedrill {
namespace {

std::optional<std::uint64_t> seed_param(const StepSpec& step) { return whole_number_param(step, "seed"); }

/// Where the services share this machine's network (the process runtime), loss acts on the fault
/// proxies of the target's paths. A TCP stream cannot lose bytes, so the proxy emulates what TCP
/// makes of a lost segment: it arrives one retransmission timeout later (ProxyFaults::loss).
std::unique_ptr<ActiveFault> loss_through_proxies(FaultContext& context, const StepSpec& step, double percent) {
  const std::string peer = step.param_text("towards");
  std::vector<std::pair<std::string, std::string>> lossy;
  for (const auto& path : context.proxied_paths ? context.proxied_paths() : std::vector<std::pair<std::string, std::string>>{}) {
    const bool from_target = path.first == step.target && (peer.empty() || path.second == peer);
    const bool to_target = path.second == step.target && (peer.empty() || path.first == peer);
    if (from_target || to_target) lossy.push_back(path);
  }
  if (lossy.empty())
    throw EnvironmentError(fmt::format(
        "step '{}': the {} runtime loses packets on the fault proxies between services, and '{}' has no path to or "
        "from {} through one (a client reaches a peer through the proxy by ${{peer.url}}, ${{peer.host}} or "
        "${{peer.port}} in its env or command)",
        step.name, context.runtime.name(), step.target, peer.empty() ? "another service" : "'" + peer + "'"));
  const std::uint64_t seed = seed_param(step).value_or(std::random_device{}());
  nlohmann::json described = {{"percent", percent}, {"via", "proxy"}, {"seed", seed}};
  if (!peer.empty()) described["towards"] = peer;
  // The proxies live in this process and end with it; the inverse only records that they existed.
  const std::string id = context.journal_inverse({{"type", "proxy"}, {"fault", "loss"}, {"service", step.target}});
  std::vector<std::pair<FaultProxy*, ProxyFaults>> before;
  nlohmann::json paths = nlohmann::json::array();
  for (const auto& [client, upstream] : lossy) {
    FaultProxy* proxy = context.proxy_between(client, upstream);
    if (proxy == nullptr) continue;
    ProxyFaults faults = proxy->faults();
    before.emplace_back(proxy, faults);
    faults.loss = percent / 100;
    faults.loss_direction = Direction::both;
    // Each proxy draws from its own generator: seeded apart, so two paths do not lose in step.
    faults.seed = seed + before.size() - 1;
    proxy->set_faults(faults);
    paths.push_back(fmt::format("{}->{}", client, upstream));
  }
  described["paths"] = paths;
  return std::make_unique<JournalledFault>(
      context, id,
      [before] {
        for (const auto& [proxy, faults] : before) {
          // Restores only what this fault changed: a latency set or cleared since then stays.
          ProxyFaults now = proxy->faults();
          now.loss = faults.loss;
          now.loss_direction = faults.loss_direction;
          proxy->set_faults(now);
        }
      },
      std::move(described));
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
          [](const StepSpec& step) { seed_param(step); }};
}

std::unique_ptr<ActiveFault> LossInjector::inject(FaultContext& context, const StepSpec& step) {
  auto percent_param = step.params.find("percent");
  if (percent_param == step.params.end())
    throw std::invalid_argument(fmt::format("step '{}': loss needs 'percent'", step.name));
  const double percent = std::stod(percent_param->second.text);
  if (percent < 0 || percent > 100)
    throw std::invalid_argument(fmt::format("step '{}': loss 'percent' must be from 0 to 100", step.name));
  if (context.runtime.network_faults_through_proxies()) return loss_through_proxies(context, step, percent);

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
