// Network faults on the fault proxies the engine placed between services at bring-up (the paths
// the steps declared): where the services share this machine's network (the process runtime),
// and for a latency or bandwidth `via: proxy` anywhere. The proxies live in the harness's process
// and end with it, so each inverse journalled here only records that they existed.
#include <functional>

#include <fmt/format.h>

#include "injectors/network_faults.hpp"
#include "injectors/proxy/fault_proxy.hpp"

namespace firedrill {
namespace {

/// The direction of a path's traffic a selection catches: on client→peer, upstream is what the
/// client sends.
std::optional<Direction> direction_on(const NetworkPath& path, const TrafficSelection& traffic) {
  const bool outgoing = path.client == traffic.service && (traffic.peer.empty() || path.peer == traffic.peer);
  const bool incoming = path.peer == traffic.service && (traffic.peer.empty() || path.client == traffic.peer);
  if (!outgoing && !incoming) return std::nullopt;
  const bool upstream = outgoing ? traffic.to_peer : traffic.from_peer;
  const bool downstream = outgoing ? traffic.from_peer : traffic.to_peer;
  if (upstream && downstream) return Direction::both;
  if (upstream) return Direction::upstream_only;
  if (downstream) return Direction::downstream_only;
  return std::nullopt;
}

class ProxyFabric final : public NetworkFaults {
 public:
  explicit ProxyFabric(FaultContext& context) : context_(context) {}

  std::unique_ptr<ActiveFault> cut(const StepSpec& step, const TrafficSelection& traffic,
                                   nlohmann::json described) override {
    if (traffic.include_clients)
      throw EnvironmentError(fmt::format(
          "step '{}': the {} runtime cuts only the fault proxies between services, not the harness's own path "
          "(include_clients needs --runtime docker)",
          step.name, context_.runtime.name()));
    const auto cut = selected(traffic);
    if (cut.empty())
      throw EnvironmentError(fmt::format(
          "step '{}': the {} runtime cuts services apart on the fault proxies between them, and none of the services "
          "it names reaches another through ${{peer.url}}, ${{peer.host}} or ${{peer.port}}",
          step.name, context_.runtime.name()));
    const std::string id = journal(step, traffic);
    const auto before = change_proxies(cut, described, [](ProxyFaults& faults, Direction direction, std::size_t) {
      faults.blackhole = true;
      faults.direction = direction;
    });
    return std::make_unique<JournalledFault>(
        context_, id,
        [before] {
          for (const auto& [proxy, faults] : before) proxy->set_faults(faults);
        },
        std::move(described));
  }

  /// A TCP stream cannot lose bytes, so the proxy emulates what TCP makes of a lost segment: it
  /// arrives one retransmission timeout later (ProxyFaults::loss).
  std::unique_ptr<ActiveFault> lose(const StepSpec& step, const TrafficSelection& traffic, double share,
                                    std::uint64_t seed, nlohmann::json described) override {
    const auto lossy = selected(traffic);
    if (lossy.empty())
      throw EnvironmentError(fmt::format(
          "step '{}': the {} runtime loses packets on the fault proxies between services, and '{}' has no path to or "
          "from {} through one (a client reaches a peer through the proxy by ${{peer.url}}, ${{peer.host}} or "
          "${{peer.port}} in its env or command)",
          step.name, context_.runtime.name(), traffic.service,
          traffic.peer.empty() ? "another service" : "'" + traffic.peer + "'"));
    described["seed"] = seed;
    const std::string id = journal(step, traffic);
    const auto before = change_proxies(lossy, described, [share, seed](ProxyFaults& faults, Direction direction, std::size_t index) {
      faults.loss = share;
      faults.loss_direction = direction;
      // Each proxy draws from its own generator: seeded apart, so two paths do not lose in step.
      faults.seed = seed + index;
    });
    return std::make_unique<JournalledFault>(
        context_, id,
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

  std::unique_ptr<ActiveFault> delay(const StepSpec& step, const TrafficSelection& traffic, Duration delay,
                                     Duration jitter, nlohmann::json described) override {
    const std::string& client = traffic.service;
    const std::string& peer = traffic.peer;
    FaultProxy* proxy = context_.proxy_between ? context_.proxy_between(client, peer) : nullptr;
    if (proxy == nullptr)
      throw EnvironmentError(fmt::format(
          "step '{}': this kernel has no netem, so latency from '{}' to '{}' needs the fault proxy, and '{}' does not "
          "reach '{}' through ${{{}.url}}, ${{{}.host}} or ${{{}.port}} in its env or command",
          step.name, client, peer, client, peer, peer, peer, peer));
    described["via"] = "proxy";
    described["proxy_port"] = proxy->port();
    const std::string id = journal(step, traffic);
    // Only the latency is this fault's: a loss or partition on the same proxy stays as it is.
    const ProxyFaults before = proxy->faults();
    ProxyFaults faults = before;
    faults.latency = std::chrono::duration_cast<std::chrono::microseconds>(delay);
    faults.jitter = std::chrono::duration_cast<std::chrono::microseconds>(jitter);
    faults.direction = Direction::upstream_only;
    proxy->set_faults(faults);
    return std::make_unique<JournalledFault>(
        context_, id,
        [proxy, before] {
          ProxyFaults now = proxy->faults();
          now.latency = before.latency;
          now.jitter = before.jitter;
          now.direction = before.direction;
          proxy->set_faults(now);
        },
        std::move(described));
  }

  /// Each proxy's own token bucket, per connection: a stream several connections share (a pool)
  /// gets the rate on each, not between them.
  std::unique_ptr<ActiveFault> limit(const StepSpec& step, const TrafficSelection& traffic, double bytes_per_second,
                                     double burst_bytes, nlohmann::json described) override {
    const auto limited = selected(traffic);
    if (limited.empty())
      throw EnvironmentError(fmt::format(
          "step '{}': bandwidth on the fault proxies needs a path between '{}' and '{}' through one, and neither "
          "reaches the other through ${{peer.url}}, ${{peer.host}} or ${{peer.port}} in its env or command",
          step.name, traffic.service, traffic.peer));
    const std::string id = journal(step, traffic);
    const auto before = change_proxies(limited, described, [bytes_per_second, burst_bytes](ProxyFaults& faults, Direction direction, std::size_t) {
      faults.bandwidth_bytes_per_second = bytes_per_second;
      faults.bandwidth_burst_bytes = burst_bytes;
      faults.bandwidth_direction = direction;
    });
    return std::make_unique<JournalledFault>(
        context_, id,
        [before] {
          for (const auto& [proxy, faults] : before) {
            // Only the cap is this fault's: a latency, loss or partition set meanwhile stays.
            ProxyFaults now = proxy->faults();
            now.bandwidth_bytes_per_second = faults.bandwidth_bytes_per_second;
            now.bandwidth_burst_bytes = faults.bandwidth_burst_bytes;
            now.bandwidth_direction = faults.bandwidth_direction;
            proxy->set_faults(now);
          }
        },
        std::move(described));
  }

 private:
  /// The proxied paths the selection catches, each with the direction it catches there.
  std::vector<std::pair<NetworkPath, Direction>> selected(const TrafficSelection& traffic) const {
    std::vector<std::pair<NetworkPath, Direction>> caught;
    if (!context_.proxied_paths) return caught;
    for (const auto& [client, peer] : context_.proxied_paths()) {
      const NetworkPath path{client, peer};
      if (auto direction = direction_on(path, traffic)) caught.emplace_back(path, *direction);
    }
    return caught;
  }

  /// Changes the faults of the proxy on each selected path with `change` (given the direction
  /// caught there and the proxy's index among those changed); what each proxy had before, for
  /// the revert. `described` gets the paths changed.
  std::vector<std::pair<FaultProxy*, ProxyFaults>> change_proxies(
      const std::vector<std::pair<NetworkPath, Direction>>& selected, nlohmann::json& described,
      const std::function<void(ProxyFaults&, Direction, std::size_t)>& change) const {
    std::vector<std::pair<FaultProxy*, ProxyFaults>> before;
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& [path, direction] : selected) {
      FaultProxy* proxy = context_.proxy_between(path.client, path.peer);
      if (proxy == nullptr) continue;
      ProxyFaults faults = proxy->faults();
      before.emplace_back(proxy, faults);
      change(faults, direction, before.size() - 1);
      proxy->set_faults(faults);
      paths.push_back(fmt::format("{}->{}", path.client, path.peer));
    }
    described["via"] = "proxy";
    described["paths"] = paths;
    return before;
  }

  std::string journal(const StepSpec& step, const TrafficSelection& traffic) {
    nlohmann::json inverse = {{"type", "proxy"}, {"fault", step.what}, {"service", traffic.service}};
    if (!traffic.peer.empty()) inverse["towards"] = traffic.peer;
    return context_.journal_inverse(inverse);
  }

  FaultContext& context_;
};

}  // namespace

std::unique_ptr<NetworkFaults> network_faults_on_proxies(FaultContext& context) {
  return std::make_unique<ProxyFabric>(context);
}

}  // namespace firedrill
