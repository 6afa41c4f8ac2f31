#include "injectors/latency.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "injectors/netfilter.hpp"
#include "injectors/proxy/fault_proxy.hpp"

namespace firedrill {
namespace {

constexpr const char* interface_in_container = "eth0";

Duration duration_param(const StepSpec& step, const std::string& name) {
  auto found = step.params.find(name);
  if (found == step.params.end() || !found->second.duration) return Duration{0};
  return *found->second.duration;
}

std::string milliseconds_text(Duration value) { return fmt::format("{:.3f}ms", static_cast<double>(value.count()) / 1000.0); }

double milliseconds(Duration value) { return static_cast<double>(value.count()) / 1000.0; }

}  // namespace

bool kernel_has_netem() {
  static const bool has_netem = [] {
    if (geteuid() != 0) return false;
    return std::system("unshare --net tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1") == 0;
  }();
  return has_netem;
}

LatencyVia latency_via(const StepSpec& step) {
  const std::string via = step.param_text("via");
  if (via == "netem") return LatencyVia::netem;
  if (via == "proxy") return LatencyVia::proxy;
  return kernel_has_netem() ? LatencyVia::netem : LatencyVia::proxy;
}

std::vector<ProxiedPath> proxied_paths(const Scenario& scenario, bool every_network_fault) {
  std::vector<ProxiedPath> paths;
  const auto add = [&paths](const std::string& client, const std::string& peer) {
    ProxiedPath path{client, peer};
    if (client != peer && std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(path);
  };
  for (const auto& step : scenario.steps) {
    if (every_network_fault && step.verb == StepVerb::action && step.what == "repoint")
      for (const auto& other : scenario.services)
        if (other.name != step.param_text("to")) add(other.name, step.param_text("service"));
    if (step.verb != StepVerb::fault) continue;
    if (step.what == "latency" && (every_network_fault || latency_via(step) == LatencyVia::proxy))
      add(step.target, step.param_text("towards"));
    if (every_network_fault && step.what == "loss")
      for (const auto& other : scenario.services)
        if (const std::string towards = step.param_text("towards"); towards.empty() || towards == other.name) {
          add(step.target, other.name);
          add(other.name, step.target);
        }
    if (!every_network_fault || step.what != "partition") continue;
    if (auto between = step.params.find("between"); between != step.params.end() && between->second.items.size() == 2) {
      add(between->second.items[0], between->second.items[1]);
      add(between->second.items[1], between->second.items[0]);
    }
    if (auto isolate = step.params.find("isolate"); isolate != step.params.end())
      for (const auto& other : scenario.services) {
        add(isolate->second.text, other.name);
        add(other.name, isolate->second.text);
      }
  }
  return paths;
}

std::vector<std::string> netem_commands(const std::string& device, const std::string& peer_address, Duration delay,
                                        Duration jitter) {
  // A fourth band no priority maps to holds netem; only the filter's matches reach it, so the
  // target's other traffic keeps its usual path.
  std::string netem = fmt::format("tc qdisc add dev {} parent 1:4 handle 40: netem delay {}", device, milliseconds_text(delay));
  if (jitter.count() > 0) netem += " " + milliseconds_text(jitter);
  return {fmt::format("tc qdisc add dev {} root handle 1: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1", device),
          netem,
          fmt::format("tc filter add dev {} parent 1:0 protocol ip prio 1 u32 match ip dst {}/32 flowid 1:4", device,
                      peer_address)};
}

std::string netem_removal(const std::string& device) {
  // Deleting the root qdisc restores the default; when there is none left, that is success.
  return fmt::format("tc qdisc del dev {} root 2>/dev/null; ! tc qdisc show dev {} | grep -q netem", device, device);
}

void revert_netem_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  const std::string service = inverse.value("service", "");
  const auto result = runtime.exec_in_network_namespace(
      service, {"sh", "-c", netem_removal(inverse.value("device", interface_in_container))}, std::chrono::seconds(10));
  if (result.exit_code != 0)
    throw EnvironmentError(fmt::format("cannot remove the netem qdisc of '{}': {}", service, result.output));
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
          check_params};
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

  if (!context.runtime.network_faults_through_proxies() && latency_via(step) == LatencyVia::netem) {
    const std::string peer_address = netfilter::address_of(context.runtime, peer);
    described["via"] = "netem";
    const std::string id = context.journal_inverse(
        {{"type", "netem"}, {"service", step.target}, {"device", interface_in_container}});
    std::string script = "set -e";
    for (const auto& command : netem_commands(interface_in_container, peer_address, delay, jitter)) script += "; " + command;
    const auto result = context.runtime.exec_in_network_namespace(step.target, {"sh", "-c", script}, std::chrono::seconds(10));
    if (result.exit_code != 0) {
      revert_netem_inverse(context.runtime, {{"service", step.target}});
      context.mark_reverted(id);
      throw EnvironmentError(fmt::format("step '{}': cannot add netem latency in '{}': {}", step.name, step.target, result.output));
    }
    Runtime& runtime = context.runtime;
    const std::string service = step.target;
    return std::make_unique<JournalledFault>(
        context, id, [&runtime, service] { revert_netem_inverse(runtime, {{"service", service}}); }, std::move(described));
  }

  FaultProxy* proxy = context.proxy_between ? context.proxy_between(step.target, peer) : nullptr;
  if (proxy == nullptr)
    throw EnvironmentError(fmt::format(
        "step '{}': this kernel has no netem, so latency from '{}' to '{}' needs the fault proxy, and '{}' does not "
        "reach '{}' through ${{{}.url}}, ${{{}.host}} or ${{{}.port}} in its env or command",
        step.name, step.target, peer, step.target, peer, peer, peer, peer));
  described["via"] = "proxy";
  described["proxy_port"] = proxy->port();
  // The proxy lives in this process and ends with it; the inverse only records that it existed.
  const std::string id = context.journal_inverse({{"type", "proxy"}, {"service", step.target}, {"towards", peer}});
  // Only the latency is this fault's: a loss or partition on the same proxy stays as it is.
  const ProxyFaults before = proxy->faults();
  ProxyFaults faults = before;
  faults.latency = std::chrono::duration_cast<std::chrono::microseconds>(delay);
  faults.jitter = std::chrono::duration_cast<std::chrono::microseconds>(jitter);
  faults.direction = Direction::upstream_only;
  proxy->set_faults(faults);
  return std::make_unique<JournalledFault>(
      context, id,
      [proxy, before] {
        ProxyFaults now = proxy->faults();
        now.latency = before.latency;
        now.jitter = before.jitter;
        now.direction = before.direction;
        proxy->set_faults(now);
      },
      std::move(described));
}

}  // namespace firedrill
