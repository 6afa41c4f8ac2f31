#pragma once
// `latency`: delays the target's traffic towards one peer by `delay` (± `jitter`), so each round
// trip from the target to the peer gains about `delay`.
//
// Two ways to apply it. Where the kernel has the netem qdisc, a prio qdisc with a netem band and
// a u32 filter on the peer's address is set on the target's interface, in its network namespace
// (the same sidecar as the iptables faults). Where it does not — detected by trying netem in a
// throwaway network namespace, never assumed — the engine places a FaultProxy (injectors/proxy/)
// between the target and the peer at bring-up: the target's ${peer.url|host|port} point at the
// proxy, which forwards untouched until the fault sets its latency. The proxy runs in the
// harness's process, so it ends with it: there is nothing of it for `firedrill cleanup` to find.
#include <string>
#include <vector>

#include "injectors/injector.hpp"

namespace firedrill {

enum class LatencyVia { netem, proxy };

/// Whether this kernel offers the netem qdisc. Tried once per process (with `unshare --net`, so
/// no interface of this machine is touched); false when that cannot be tried (not root, no tc).
bool kernel_has_netem();

/// How a `latency` step is applied: its `via` when it names one, else netem when the kernel has
/// it, else the proxy.
LatencyVia latency_via(const StepSpec& step);

/// A path from a client service to a peer that must run through a fault proxy.
struct ProxiedPath {
  std::string client;
  std::string peer;
  auto operator<=>(const ProxiedPath&) const = default;
};

/// The paths a scenario's `latency` steps need proxies on (empty when netem serves them all). With
/// every_network_fault (a runtime whose network faults act on proxies only), every latency step's
/// path whatever its `via`, both directions of every pair a `partition` or `loss` step names, and
/// every other service's path to the name a `repoint` action moves (the proxy is what it moves).
std::vector<ProxiedPath> proxied_paths(const Scenario& scenario, bool every_network_fault = false);

/// The tc commands (each run with `sh -c`) that delay the traffic to `peer_address` leaving
/// `device` by `delay` ± `jitter` with netem, and the one that removes them.
std::vector<std::string> netem_commands(const std::string& device, const std::string& peer_address, Duration delay,
                                        Duration jitter);
std::string netem_removal(const std::string& device);

/// Reverts a journalled netem inverse (used by revert_from_journal).
void revert_netem_inverse(Runtime& runtime, const nlohmann::json& inverse);

class LatencyInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  static VerbSpec spec();
  static void check_params(const StepSpec& step);
};

}  // namespace firedrill
