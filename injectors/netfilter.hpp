#pragma once
// Shared plumbing of the network faults (partition, loss): DROP rules in one service's network
// namespace, kept in a chain of their own so reverting is "unhook, flush, delete the chain" —
// idempotent, and blind to whatever else the namespace holds.
//
// The rules are changed through Runtime::exec_in_network_namespace, which the Docker runtime
// implements with a sidecar container sharing the target's namespace (firedrill/base:bookworm,
// NET_ADMIN, labelled and journalled like every resource, kept up for the run). Chosen over
// `nsenter -t <pid> -n iptables` from the host because it works for any target image (the
// services' images need no iptables and no NET_ADMIN), needs no root on the harness's host, and
// works with a remote or rootless engine; after the first fault each rule change is one exec.
//
// Rules match peers by their address on the run's network. Dropping at the target (INPUT and
// OUTPUT) makes a TCP connection attempt time out, as a real partition does, rather than be
// refused (a dropped outgoing SYN is retransmitted, not reported to the caller).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "injectors/injector.hpp"

namespace firedrill::netfilter {

/// Every chain firedrill creates starts with this; a listing without it holds none of its rules.
inline constexpr const char* chain_prefix = "FIREDRILL";

/// One iptables rule of a chain, without `-A CHAIN` (like {"-s", "198.18.3.4", "-j", "DROP"}).
using Rule = std::vector<std::string>;

/// The service's own view of the run's network, read inside its namespace.
struct NetworkView {
  std::string address;  // "198.18.3.2"
  std::string subnet;   // "198.18.3.2/24" (iptables masks it to the network)
  std::string gateway;  // the bridge's address: where published-port traffic from the host comes from
};

/// Reads the service's address, subnet and default gateway. Throws EnvironmentError.
NetworkView network_view(Runtime& runtime, const std::string& service);

/// The address of a service on the run's network. Throws EnvironmentError when it has none.
std::string address_of(Runtime& runtime, const std::string& service);

/// Which way traffic between two services is affected.
struct Directions {
  bool a_to_b = true;
  bool b_to_a = true;
};

/// The rules that catch the traffic between services a and b that runs through a fault proxy the
/// engine placed on their path (latency.hpp), each followed by `action` (like {"-j", "DROP"}),
/// keyed by the service whose namespace must hold them: the proxy's client, which reaches the
/// proxy at its gateway — rules on the peer's address never see that traffic. Empty when no
/// proxy stands between them.
std::map<std::string, std::vector<Rule>> proxied_path_rules(FaultContext& context, const std::string& a,
                                                            const std::string& b, Directions directions,
                                                            const Rule& action);

/// The services with a proxied path to or from `service`.
std::vector<std::string> proxied_peers(FaultContext& context, const std::string& service);

/// Installs one chain per service of `rules_by_service` (journalled first, like apply_chain) and
/// returns one fault that removes them all, newest first.
std::unique_ptr<ActiveFault> apply_chains(FaultContext& context, const std::string& fault,
                                          const std::map<std::string, std::vector<Rule>>& rules_by_service,
                                          nlohmann::json described);

/// A fresh chain name, FIREDRILL-<8 hex digits>, unique enough for concurrent faults on one
/// service.
std::string new_chain_name();

/// Creates `chain` holding `rules` and hooks it first in INPUT and OUTPUT, atomically (one
/// iptables-restore). Throws EnvironmentError with iptables' message when refused.
void install_chain(Runtime& runtime, const std::string& service, const std::string& chain,
                   const std::vector<Rule>& rules);

/// Unhooks, flushes and deletes `chain`; a chain already gone is success. Throws
/// EnvironmentError when the chain is still there afterwards.
void remove_chain(Runtime& runtime, const std::string& service, const std::string& chain);

/// `iptables -S` inside the service's namespace (for tests and diagnosis).
std::string rule_listing(Runtime& runtime, const std::string& service);

/// The journalled inverse of a chain: what `firedrill cleanup` passes to remove_chain.
nlohmann::json chain_inverse(const std::string& fault, const std::string& service, const std::string& chain);

/// Reverts a chain_inverse() (used by revert_from_journal).
void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);

/// Journals the chain's inverse, installs it, and returns the fault that removes it. `described`
/// becomes the report's description (the chain and rules are added to it).
std::unique_ptr<ActiveFault> apply_chain(FaultContext& context, const std::string& fault, const std::string& service,
                                         const std::vector<Rule>& rules, nlohmann::json described);

}  // namespace firedrill::netfilter
