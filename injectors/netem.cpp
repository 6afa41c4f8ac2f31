#include "injectors/netem.hpp"

#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include <fmt/format.h>

#include "core/errors.hpp"

namespace firedrill {
namespace {

std::string milliseconds_text(Duration value) { return fmt::format("{:.3f}ms", static_cast<double>(value.count()) / 1000.0); }

}  // namespace

bool kernel_has_netem() {
  static const bool has_netem = [] {
    if (geteuid() != 0) return false;
    return std::system("unshare --net tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1") == 0;
  }();
  return has_netem;
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
  return fmt::format("tc qdisc del dev {} root 2>/dev/null; ! tc qdisc show dev {} | grep -qE 'netem|htb'", device,
                     device);
}

bool kernel_has_rate_limit() {
  static const bool has_rate_limit = [] {
    if (geteuid() != 0) return false;
    return std::system("unshare --net sh -c 'tc qdisc add dev lo root handle 1: htb"
                       " && tc class add dev lo parent 1: classid 1:10 htb rate 1mbit"
                       " && tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip dst 127.0.0.2/32 flowid 1:10'"
                       " >/dev/null 2>&1") == 0;
  }();
  return has_rate_limit;
}

std::vector<std::string> rate_limit_commands(const std::string& device, const std::string& peer_address,
                                             double bytes_per_second, double burst_bytes) {
  const auto bits = static_cast<std::uint64_t>(bytes_per_second * 8);
  const auto burst = static_cast<std::uint64_t>(burst_bytes);
  // Traffic no filter classifies goes to no class (default 0): htb sends it on directly, unshaped.
  // The class's queue holds 1000 packets, as the device's own would: a full link queues, as a
  // saturated one does, before it drops.
  return {fmt::format("tc qdisc add dev {} root handle 1: htb direct_qlen 1000", device),
          fmt::format("tc class add dev {} parent 1: classid 1:10 htb rate {}bit ceil {}bit burst {}b cburst {}b", device,
                      bits, bits, burst, burst),
          fmt::format("tc qdisc add dev {} parent 1:10 handle 10: pfifo limit 1000", device),
          fmt::format("tc filter add dev {} parent 1: protocol ip prio 1 u32 match ip dst {}/32 flowid 1:10", device,
                      peer_address)};
}

void revert_netem_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  const std::string service = inverse.value("service", "");
  // A stopped container's interface went with it, and its qdisc too: a restart gets a new one.
  if (!runtime.is_running(service)) return;
  const auto result = network_namespaces(runtime).exec_network_tools(
      service, {"sh", "-c", netem_removal(inverse.value("device", interface_in_container))}, std::chrono::seconds(10));
  if (result.exit_code != 0)
    throw EnvironmentError(fmt::format("cannot remove the netem qdisc of '{}': {}", service, result.output));
}

}  // namespace firedrill
