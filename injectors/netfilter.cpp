#include "injectors/netfilter.hpp"

#include <random>
#include <sstream>

#include <fmt/format.h>

namespace firedrill::netfilter {
namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds exec_timeout = 15s;

std::string join(const Rule& rule) {
  std::string text;
  for (const auto& word : rule) text += (text.empty() ? "" : " ") + word;
  return text;
}

ExecResult run_checked(Runtime& runtime, const std::string& service, const std::vector<std::string>& argv,
                       const std::string& what) {
  ExecResult result = runtime.exec_in_network_namespace(service, argv, exec_timeout);
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

}  // namespace firedrill::netfilter
