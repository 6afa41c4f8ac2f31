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
#include "injectors/netem.hpp"

namespace firedrill {

enum class LatencyVia { netem, proxy };

/// How a `latency` step is applied: its `via` when it names one, else netem when the kernel has
/// it, else the proxy.
LatencyVia latency_via(const StepSpec& step);

class LatencyInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  static VerbSpec spec();
  static void check_params(const StepSpec& step);
};

}  // namespace firedrill
