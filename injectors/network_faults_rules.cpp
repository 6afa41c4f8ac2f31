// Network faults as rules in the services' own network namespaces: iptables chains for cut and
// lose (netfilter.hpp), a netem qdisc for delay, an htb qdisc for limit (netem.hpp). A path that runs through a fault
// proxy (a latency `via: proxy`) reaches the peer at the client's gateway, where rules on the
// peer's address never see it: such paths get rules of their own, on the proxy's port.
#include <fmt/format.h>

#include "injectors/netem.hpp"
#include "injectors/netfilter.hpp"
#include "injectors/network_faults.hpp"

namespace firedrill {
namespace {

class NamespaceRules final : public NetworkFaults {
 public:
  explicit NamespaceRules(FaultContext& context) : context_(context) {}

  std::unique_ptr<ActiveFault> cut(const StepSpec& step, const TrafficSelection& traffic,
                                   nlohmann::json described) override {
    described["network_tools"] = route_to(traffic.service);
    return netfilter::apply_chains(context_, step.what, rules_for(traffic, {"-j", "DROP"}), std::move(described));
  }

  std::unique_ptr<ActiveFault> lose(const StepSpec& step, const TrafficSelection& traffic, double share,
                                    std::uint64_t /*seed: the kernel draws*/, nlohmann::json described) override {
    netfilter::Rule action;
    if (share < 1) action = {"-m", "statistic", "--mode", "random", "--probability", fmt::format("{:.6f}", share)};
    action.push_back("-j");
    action.push_back("DROP");
    described["network_tools"] = route_to(traffic.service);
    return netfilter::apply_chains(context_, step.what, rules_for(traffic, action, share > 0), std::move(described));
  }

  std::unique_ptr<ActiveFault> delay(const StepSpec& step, const TrafficSelection& traffic, Duration delay,
                                     Duration jitter, nlohmann::json described) override {
    const std::string peer_address = netfilter::address_of(context_.runtime, traffic.peer);
    described["via"] = "netem";
    described["network_tools"] = route_to(traffic.service);
    return with_qdisc(step, traffic.service, netem_commands(interface_in_container, peer_address, delay, jitter),
                      "netem latency", std::move(described));
  }

  /// What the service sends to the peer only (the filter matches the peer's address): a path
  /// through a fault proxy is the proxy's to limit (a bandwidth `via: proxy`).
  std::unique_ptr<ActiveFault> limit(const StepSpec& step, const TrafficSelection& traffic, double bytes_per_second,
                                     double burst_bytes, nlohmann::json described) override {
    const std::string peer_address = netfilter::address_of(context_.runtime, traffic.peer);
    described["via"] = "tc";
    described["network_tools"] = route_to(traffic.service);
    return with_qdisc(step, traffic.service,
                      rate_limit_commands(interface_in_container, peer_address, bytes_per_second, burst_bytes),
                      "a tc rate limit", std::move(described));
  }

 private:
  /// How the rules reach the service's namespace ("direct" or "sidecar"), for the details.
  std::string route_to(const std::string& service) {
    return network_namespaces(context_.runtime).network_tools_route(service);
  }

  /// The rules that catch the selected traffic, each followed by `action`, keyed by the service
  /// whose namespace holds them. Without `act` only the chain's frame is laid (a 0 % loss).
  std::map<std::string, std::vector<netfilter::Rule>> rules_for(const TrafficSelection& traffic,
                                                                const netfilter::Rule& action, bool act = true) {
    std::map<std::string, std::vector<netfilter::Rule>> rules;
    const auto with_action = [&action](netfilter::Rule rule) {
      rule.insert(rule.end(), action.begin(), action.end());
      return rule;
    };
    const auto add_proxied = [&](const std::string& peer, netfilter::Directions directions) {
      for (auto& [service, extra] : netfilter::proxied_path_rules(context_, traffic.service, peer, directions, action))
        rules[service].insert(rules[service].end(), extra.begin(), extra.end());
    };
    std::vector<netfilter::Rule> own;
    if (!traffic.peer.empty()) {
      if (act) add_proxied(traffic.peer, {traffic.to_peer, traffic.from_peer});
      const std::string peer = netfilter::address_of(context_.runtime, traffic.peer);
      if (act && traffic.from_peer) own.push_back(with_action({"-s", peer}));
      if (act && traffic.to_peer) own.push_back(with_action({"-d", peer}));
    } else {
      // Paths through a fault proxy reach the service from the gateway: they are caught first,
      // by the proxy's port, as the rules below may leave the gateway alone.
      if (act)
        for (const auto& peer : netfilter::proxied_peers(context_, traffic.service)) add_proxied(peer, {});
      const auto view = netfilter::network_view(context_.runtime, traffic.service);
      // Its own address is in the subnet too: talking to itself is not network traffic.
      own.push_back({"-s", view.address, "-d", view.address, "-j", "RETURN"});
      if (!traffic.include_clients) {
        own.push_back({"-s", view.gateway, "-j", "RETURN"});
        own.push_back({"-d", view.gateway, "-j", "RETURN"});
      }
      if (act && traffic.from_peer) own.push_back(with_action({"-s", view.subnet}));
      if (act && traffic.to_peer) own.push_back(with_action({"-d", view.subnet}));
    }
    auto& held = rules[traffic.service];
    held.insert(held.end(), own.begin(), own.end());
    return rules;
  }

  /// Runs `commands` in the service's namespace, their inverse (the root qdisc's removal)
  /// journalled first; a failure removes whatever part of them took.
  std::unique_ptr<ActiveFault> with_qdisc(const StepSpec& step, const std::string& service,
                                          const std::vector<std::string>& commands, const std::string& what,
                                          nlohmann::json described) {
    const std::string id =
        context_.journal_inverse({{"type", "netem"}, {"service", service}, {"device", interface_in_container}});
    std::string script = "set -e";
    for (const auto& command : commands) script += "; " + command;
    Runtime& runtime = context_.runtime;
    const auto result =
        network_namespaces(runtime).exec_network_tools(service, {"sh", "-c", script}, std::chrono::seconds(10));
    if (result.exit_code != 0) {
      revert_netem_inverse(runtime, {{"service", service}});
      context_.mark_reverted(id);
      throw EnvironmentError(fmt::format("step '{}': cannot add {} in '{}': {}", step.name, what, service, result.output));
    }
    return std::make_unique<JournalledFault>(
        context_, id, [&runtime, service] { revert_netem_inverse(runtime, {{"service", service}}); },
        std::move(described));
  }

  FaultContext& context_;
};

}  // namespace

std::unique_ptr<NetworkFaults> network_faults_as_rules(FaultContext& context) {
  return std::make_unique<NamespaceRules>(context);
}

std::unique_ptr<NetworkFaults> network_faults_for(FaultContext& context) {
  if (takes_network_faults_on_proxies(context.runtime)) return network_faults_on_proxies(context);
  return network_faults_as_rules(context);
}

}  // namespace firedrill
