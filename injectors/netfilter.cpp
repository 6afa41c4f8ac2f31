#include "injectors/netfilter.hpp"

#include <algorithm>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "injectors/proxy/fault_proxy.hpp"

namespace firedrill::netfilter {
namespace {

using namespace std::chrono_literals;

std::string join(const Rule& rule) {
  std::string text;
  for (const auto& word : rule) text += (text.empty() ? "" : " ") + word;
  return text;
}

ExecResult run_checked(Runtime& runtime, const std::string& service, const std::vector<std::string>& argv,
                       const std::string& what) {
  ExecResult result = network_namespaces(runtime).exec_network_tools(service, argv, fault_exec_timeout);
  if (result.exit_code != 0)
    throw EnvironmentError(fmt::format("cannot {} in the network of '{}' (exit {}): {}", what, service,
                                       result.exit_code, result.output));
  return result;
}

}  // namespace

NetworkView network_view(Runtime& runtime, const std::string& service) {
  const ExecResult result = run_checked(
      runtime, service, {"sh", "-c", "ip -4 -o addr show scope global && ip -4 route show default"},
      "read the addresses");
  NetworkView view;
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string word;
    std::string previous;
    while (words >> word) {
      if (previous == "inet" && view.subnet.empty()) {
        view.subnet = word;
        view.address = word.substr(0, word.find('/'));
      }
      if (previous == "via" && line.starts_with("default") && view.gateway.empty()) view.gateway = word;
      previous = word;
    }
  }
  if (view.subnet.empty() || view.gateway.empty())
    throw EnvironmentError(fmt::format("cannot tell the address and gateway of '{}' from: {}", service, result.output));
  return view;
}

std::string address_of(Runtime& runtime, const std::string& service) {
  std::string ip = runtime.inspect(service).ip;
  if (ip.empty())
    throw EnvironmentError(fmt::format("'{}' has no address on the run's network (is it running?)", service));
  return ip;
}

std::string new_chain_name() {
  std::random_device entropy;
  return fmt::format("{}-{:08x}", chain_prefix, static_cast<unsigned>(entropy()));
}

void install_chain(Runtime& runtime, const std::string& service, const std::string& chain,
                   const std::vector<Rule>& rules) {
  // One iptables-restore applies every rule at the same instant, so T0 is one moment and a
  // half-applied fault cannot exist.
  std::vector<std::string> argv{"sh", "-c", "printf '%s\\n' \"$@\" | iptables-restore --noflush", "sh", "*filter",
                                fmt::format(":{} - [0:0]", chain)};
  for (const auto& rule : rules) argv.push_back(fmt::format("-A {} {}", chain, join(rule)));
  argv.push_back(fmt::format("-I INPUT 1 -j {}", chain));
  argv.push_back(fmt::format("-I OUTPUT 1 -j {}", chain));
  argv.push_back("COMMIT");
  run_checked(runtime, service, argv, "install iptables chain " + chain);
}

void remove_chain(Runtime& runtime, const std::string& service, const std::string& chain) {
  static constexpr const char* script =
      "while iptables -w -D INPUT -j \"$1\" 2>/dev/null; do :; done; "
      "while iptables -w -D OUTPUT -j \"$1\" 2>/dev/null; do :; done; "
      "iptables -w -F \"$1\" 2>/dev/null; iptables -w -X \"$1\" 2>/dev/null; "
      "if iptables -w -S \"$1\" >/dev/null 2>&1; then echo \"chain $1 is still present\"; exit 1; fi";
  run_checked(runtime, service, {"sh", "-c", script, "sh", chain}, "remove iptables chain " + chain);
}

std::string rule_listing(Runtime& runtime, const std::string& service) {
  return run_checked(runtime, service, {"iptables", "-w", "-S"}, "list the iptables rules").output;
}

nlohmann::json chain_inverse(const std::string& fault, const std::string& service, const std::string& chain) {
  return {{"type", "netfilter"}, {"fault", fault}, {"service", service}, {"chain", chain}};
}

void revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  remove_chain(runtime, inverse.at("service").get<std::string>(), inverse.at("chain").get<std::string>());
}

std::unique_ptr<ActiveFault> apply_chain(FaultContext& context, const std::string& fault, const std::string& service,
                                         const std::vector<Rule>& rules, nlohmann::json described) {
  const std::string chain = new_chain_name();
  const std::string journal_id = context.journal_inverse(chain_inverse(fault, service, chain));
  try {
    install_chain(context.runtime, service, chain, rules);
  } catch (...) {
    try {
      remove_chain(context.runtime, service, chain);
      context.mark_reverted(journal_id);
    } catch (const std::exception&) {
      // The inverse stays journalled: cleanup retries it, and removing the run's containers undoes it.
    }
    throw;
  }
  described["service"] = service;
  described["chain"] = chain;
  nlohmann::json listed = nlohmann::json::array();
  for (const auto& rule : rules) listed.push_back(join(rule));
  described["rules"] = listed;
  Runtime& runtime = context.runtime;
  return std::make_unique<JournalledFault>(
      context, journal_id, [&runtime, service, chain] { remove_chain(runtime, service, chain); }, std::move(described));
}

std::map<std::string, std::vector<Rule>> proxied_path_rules(FaultContext& context, const std::string& a,
                                                            const std::string& b, Directions directions,
                                                            const Rule& action) {
  std::map<std::string, std::vector<Rule>> rules;
  if (!context.proxy_between) return rules;
  for (const auto& [client, peer] : {std::pair{a, b}, std::pair{b, a}}) {
    const FaultProxy* proxy = context.proxy_between(client, peer);
    if (proxy == nullptr) continue;
    const bool client_to_peer = client == a ? directions.a_to_b : directions.b_to_a;
    const bool peer_to_client = client == a ? directions.b_to_a : directions.a_to_b;
    const std::string gateway = network_view(context.runtime, client).gateway;
    const std::string port = std::to_string(proxy->port());
    auto with_action = [&action](Rule rule) {
      rule.insert(rule.end(), action.begin(), action.end());
      return rule;
    };
    if (client_to_peer) rules[client].push_back(with_action({"-d", gateway, "-p", "tcp", "--dport", port}));
    if (peer_to_client) rules[client].push_back(with_action({"-s", gateway, "-p", "tcp", "--sport", port}));
  }
  return rules;
}

std::vector<std::string> proxied_peers(FaultContext& context, const std::string& service) {
  std::vector<std::string> peers;
  if (!context.proxied_paths) return peers;
  for (const auto& [client, peer] : context.proxied_paths()) {
    const std::string& other = client == service ? peer : peer == service ? client : std::string();
    if (!other.empty() && std::find(peers.begin(), peers.end(), other) == peers.end()) peers.push_back(other);
  }
  return peers;
}

namespace {

/// Several chains applied as one fault: reverted newest first; every chain is attempted even
/// when one fails, and the first failure is rethrown.
class ChainsFault final : public ActiveFault {
 public:
  ChainsFault(std::vector<std::unique_ptr<ActiveFault>> chains, nlohmann::json described)
      : chains_(std::move(chains)), described_(std::move(described)) {}
  void revert() override {
    std::exception_ptr failure;
    for (auto it = chains_.rbegin(); it != chains_.rend(); ++it) {
      try {
        (*it)->revert();
      } catch (...) {
        if (!failure) failure = std::current_exception();
      }
    }
    if (failure) std::rethrow_exception(failure);
  }
  nlohmann::json describe() const override { return described_; }

 private:
  std::vector<std::unique_ptr<ActiveFault>> chains_;
  nlohmann::json described_;
};

}  // namespace

std::unique_ptr<ActiveFault> apply_chains(FaultContext& context, const std::string& fault,
                                          const std::map<std::string, std::vector<Rule>>& rules_by_service,
                                          nlohmann::json described) {
  if (rules_by_service.size() == 1) {
    const auto& [service, rules] = *rules_by_service.begin();
    return apply_chain(context, fault, service, rules, std::move(described));
  }
  std::vector<std::unique_ptr<ActiveFault>> chains;
  nlohmann::json parts = nlohmann::json::array();
  try {
    for (const auto& [service, rules] : rules_by_service) {
      chains.push_back(apply_chain(context, fault, service, rules, nlohmann::json::object()));
      parts.push_back(chains.back()->describe());
    }
  } catch (...) {
    ChainsFault applied(std::move(chains), {});
    try {
      applied.revert();
    } catch (const std::exception&) {
      // The inverses stay journalled: cleanup retries them.
    }
    throw;
  }
  described["chains"] = parts;
  return std::make_unique<ChainsFault>(std::move(chains), std::move(described));
}

}  // namespace firedrill::netfilter
