#include "injectors/latency.hpp"

#include <stdexcept>

#include <fmt/format.h>

#include "injectors/network_faults.hpp"

namespace firedrill {
namespace {

Duration duration_param(const StepSpec& step, const std::string& name) {
  auto found = step.params.find(name);
  if (found == step.params.end() || !found->second.duration) return Duration{0};
  return *found->second.duration;
}

double milliseconds(Duration value) { return static_cast<double>(value.count()) / 1000.0; }

}  // namespace

LatencyVia latency_via(const StepSpec& step) {
  const std::string via = step.param_text("via");
  if (via == "netem") return LatencyVia::netem;
  if (via == "proxy") return LatencyVia::proxy;
  return kernel_has_netem() ? LatencyVia::netem : LatencyVia::proxy;
}

VerbSpec LatencyInjector::spec() {
  return {"latency",
          "Delay the target's traffic towards one peer (tc netem where the kernel has it, else the fault proxy).",
          true,
          {{"towards", ParamType::service, true, "the peer whose traffic from the target is delayed"},
           {"delay", ParamType::duration, true, "added to each round trip from the target to the peer (like 200ms)"},
           {"jitter", ParamType::duration, false, "each delay varies uniformly by up to this much"},
           {"via", ParamType::string, false,
            "netem | proxy (default: netem when the kernel has it, else proxy); proxy needs the target to reach the "
            "peer through ${peer.url}, ${peer.host} or ${peer.port}"}},
          check_params,
          {},
          [](const StepSpec& step, const Scenario&) {
            return StepPaths{{{step.target, step.param_text("towards")}}, latency_via(step) == LatencyVia::proxy};
          }};
}

void LatencyInjector::check_params(const StepSpec& step) {
  const auto fail = [&](const std::string& why) {
    throw std::invalid_argument(fmt::format("step '{}': latency {}", step.name, why));
  };
  const std::string via = step.param_text("via");
  if (!via.empty() && via != "netem" && via != "proxy") fail(fmt::format("'via' must be netem or proxy, not '{}'", via));
  if (step.param_text("towards") == step.target) fail("'towards' must name another service than the target");
  if (duration_param(step, "jitter") > duration_param(step, "delay")) fail("'jitter' must not exceed 'delay'");
}

std::unique_ptr<ActiveFault> LatencyInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  const std::string peer = step.param_text("towards");
  const Duration delay = duration_param(step, "delay");
  const Duration jitter = duration_param(step, "jitter");
  nlohmann::json described = {{"towards", peer}, {"delay_ms", milliseconds(delay)}, {"jitter_ms", milliseconds(jitter)}};
  auto network = latency_via(step) == LatencyVia::proxy ? network_faults_on_proxies(context) : network_faults_for(context);
  return network->delay(step, {step.target, peer, true, false}, delay, jitter, std::move(described));
}

}  // namespace firedrill
