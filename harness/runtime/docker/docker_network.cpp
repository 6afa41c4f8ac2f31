// The Docker runtime's network: each run's bridge with a /24 of 198.18.0.0/15 no engine network
// overlaps and masquerading off, a fixed address per service, the run's egress rule, and the
// NetworkNamespaces capability — a sidecar sharing a service's namespace, with NET_ADMIN and the
// tools the service's image need not have, where network faults run their commands; or, as root
// beside the engine, this machine's own network tools entering that namespace directly.
#include <arpa/inet.h>
#include <unistd.h>

#include <cstdint>
#include <optional>

#include <fmt/format.h>

#include "core/model.hpp"
#include "core/ports.hpp"
#include "harness/runtime/docker/docker_runtime.hpp"
#include "harness/runtime/docker/freezer.hpp"
#include "harness/runtime/process/command_line.hpp"
#include "harness/runtime/process/spawn.hpp"
#include "harness/runtime/docker/host_firewall.hpp"

namespace firedrill {
namespace {

using nlohmann::json;

struct Ipv4Subnet {
  uint32_t base = 0;
  int prefix = 0;
};

std::optional<Ipv4Subnet> parse_ipv4_subnet(const std::string& cidr) {
  const auto slash = cidr.find('/');
  if (slash == std::string::npos) return std::nullopt;
  in_addr address{};
  if (inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &address) != 1) return std::nullopt;
  int prefix = 0;
  try {
    prefix = std::stoi(cidr.substr(slash + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (prefix < 0 || prefix > 32) return std::nullopt;
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return Ipv4Subnet{ntohl(address.s_addr) & mask, prefix};
}

bool overlaps(const Ipv4Subnet& a, const Ipv4Subnet& b) {
  const int prefix = std::min(a.prefix, b.prefix);
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (a.base & mask) == (b.base & mask);
}

std::string format_ipv4(uint32_t host_order) {
  return fmt::format("{}.{}.{}.{}", host_order >> 24, (host_order >> 16) & 0xFF,
                     (host_order >> 8) & 0xFF, host_order & 0xFF);
}

/// The n-th address of a subnet ("198.18.7.0/24", 2 → "198.18.7.2").
std::string address_in_subnet(const std::string& cidr, std::size_t n) {
  auto subnet = parse_ipv4_subnet(cidr);
  if (!subnet) throw EnvironmentError(fmt::format("the run's network has no usable subnet ('{}')", cidr));
  return format_ipv4(subnet->base + static_cast<uint32_t>(n));
}

}  // namespace

std::string DockerRuntime::source_address(const std::string& service) {
  require_run(service);
  if (subnet_.empty()) create_network();
  return static_addresses_.try_emplace(service, address_in_subnet(subnet_, static_addresses_.size() + 2)).first->second;
}

void DockerRuntime::create_network() {
  require_run();
  if (!subnet_.empty()) return;
  const std::string name = network_name();
  // A network of this name that this runtime did not create belongs to another run (or to a
  // leftover of one): adopting it would put both runs' containers on one network and let either
  // teardown remove the other's.
  try {
    const json existing = api_.get("/networks/" + docker::url_encode(name));
    if (existing.value("Name", std::string()) == name)
      throw EnvironmentError(fmt::format("cannot create network {}: a network of that name already exists (another run "
                                         "with this id, or its leftovers: `firedrill cleanup {}`)",
                                         name, run_id_));
  } catch (const docker::EngineError& error) {
    if (error.status() != 404) throw;
  }

  const auto pool = *parse_ipv4_subnet("198.18.0.0/15");
  const auto engine_bridge = *parse_ipv4_subnet("198.18.0.0/24");
  std::vector<Ipv4Subnet> used{engine_bridge};
  const json networks = api_.get("/networks");
  if (networks.is_array()) {
    for (const auto& network : networks) {
      if (!network.contains("IPAM") || !network["IPAM"].contains("Config") ||
          !network["IPAM"]["Config"].is_array()) {
        continue;
      }
      for (const auto& config : network["IPAM"]["Config"]) {
        if (auto subnet = parse_ipv4_subnet(config.value("Subnet", std::string()))) used.push_back(*subnet);
      }
    }
  }

  bool announced = false;
  const uint32_t blocks = 1u << (24 - pool.prefix);
  for (uint32_t block = 0; block < blocks; ++block) {
    const Ipv4Subnet candidate{pool.base + (block << 8), 24};
    bool taken = false;
    for (const auto& subnet : used) taken = taken || overlaps(candidate, subnet);
    if (taken) continue;

    const std::string cidr = format_ipv4(candidate.base) + "/24";
    const json request = {
        {"Name", name},
        {"Driver", "bridge"},
        {"CheckDuplicate", true},
        {"Labels", resource_labels("")},
        {"Options", {{"com.docker.network.bridge.enable_ip_masquerade", "false"}}},
        {"IPAM",
         {{"Driver", "default"},
          {"Config", json::array({{{"Subnet", cidr}, {"Gateway", format_ipv4(candidate.base + 1)}}})}}},
    };
    // The journal needs the name once; retries on another subnet create the same name.
    if (!announced) announce("network", name);
    announced = true;
    try {
      api_.post("/networks/create", request);
      subnet_ = cidr;
      // As root, the run's own rule keeps its containers on this machine (host_firewall.hpp).
      if (can_change_host_firewall()) {
        announce(egress_rule_kind, cidr);
        insert_egress_rule(cidr, run_id_);
        egress_rule_inserted_ = true;
      }
      return;
    } catch (const docker::EngineError& error) {
      const std::string message = error.what();
      if (message.find("already exists") != std::string::npos)
        throw EnvironmentError(fmt::format("cannot create network {}: another network of that name appeared meanwhile ({})",
                                           name, message));
      if (message.find("overlap") == std::string::npos) {
        throw EnvironmentError(fmt::format("cannot create network {}: {}", name, message));
      }
    }
  }
  throw EnvironmentError(fmt::format(
      "cannot create network {}: every /24 of 198.18.0.0/15 is in use by other engine networks", name));
}

std::string DockerRuntime::network_sidecar(const std::string& service) {
  static constexpr const char* sidecar_image = "firedrill/base:bookworm";
  static constexpr const char* namespace_label = "io.firedrill.netns-of";
  const std::string sidecar = service + std::string(network_sidecar_suffix);
  const std::string name = container_name(sidecar);

  json target;
  try {
    target = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot inspect '{}' to enter its network: {}", service, error.what()));
  }
  const json state = target.value("State", json::object());
  if (!state.value("Running", false))
    throw EnvironmentError(fmt::format("'{}' is not running, so it has no network namespace to change", service));
  // A restarted container gets a new namespace; the sidecar must follow it, so it is keyed by the
  // target's current process.
  const std::string namespace_key =
      fmt::format("{}:{}", target.value("Id", std::string()), state.value("Pid", 0));

  try {
    const json existing = api_.get(fmt::format("/containers/{}/json", name));
    const bool running = existing.value("State", json::object()).value("Running", false);
    const std::string key = existing.value("Config", json::object()).value("Labels", json::object()).value(namespace_label, std::string());
    if (running && key == namespace_key) return sidecar;
    api_.del(fmt::format("/containers/{}?force=1", name));
  } catch (const docker::EngineError& error) {
    if (error.status() != 404) throw EnvironmentError(fmt::format("cannot inspect {}: {}", name, error.what()));
  }

  try {
    api_.get(fmt::format("/images/{}/json", docker::image_path(sidecar_image)));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format(
        "image '{}' is needed to change a service's network and is not present ({}); fixtures/images/build makes it",
        sidecar_image, error.what()));
  }
  json labels = resource_labels(sidecar);
  labels[namespace_label] = namespace_key;
  const json request = {
      {"Image", sidecar_image},
      {"Cmd", {"sleep", "infinity"}},
      {"Labels", labels},
      {"HostConfig",
       {{"NetworkMode", "container:" + target.value("Id", std::string())}, {"CapAdd", {"NET_ADMIN"}}}},
  };
  announce("container", name);
  try {
    api_.post("/containers/create?name=" + docker::url_encode(name), request);
    api_.post(fmt::format("/containers/{}/start", name));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot start {} to change the network of '{}': {}", name, service, error.what()));
  }
  return sidecar;
}

ExecResult DockerRuntime::exec_in_network_namespace(const std::string& service, const std::vector<std::string>& argv,
                                                    std::chrono::milliseconds timeout) {
  require_run(service);
  return exec(network_sidecar(service), argv, timeout);
}

std::optional<ExecResult> DockerRuntime::run_network_tools_directly(const std::string& service,
                                                                    const std::vector<std::string>* argv,
                                                                    std::chrono::milliseconds timeout) {
  // Entering another namespace takes CAP_SYS_ADMIN: a rootless harness goes through the sidecar,
  // as does one on a machine without the tools (ci/setup installs them; the sidecar has its own).
  static const bool machine_has_tools = [] {
    return ::access(resolve_program("iptables").c_str(), X_OK) == 0 && ::access(resolve_program("tc").c_str(), X_OK) == 0;
  }();
  if (network_tools_through_sidecar_ || ::geteuid() != 0 || !machine_has_tools) return std::nullopt;
  try {
    const json target = api_.get(fmt::format("/containers/{}/json", container_name(service)));
    const json state = target.value("State", json::object());
    if (!state.value("Running", false)) return std::nullopt;
    const ContainerProcess process(state.value("Pid", 0), target.value("Id", std::string()));
    if (!process.open()) return std::nullopt;
    if (argv == nullptr) return ExecResult{0, ""};
    return run_in_network_namespace_of(process.pidfd(), *argv, timeout);
  } catch (const docker::EngineError&) {
    return std::nullopt;  // the sidecar's way reports a missing or stopped service in its own words
  }
}

ExecResult DockerRuntime::exec_network_tools(const std::string& service, const std::vector<std::string>& argv,
                                             std::chrono::milliseconds timeout) {
  require_run(service);
  // As root beside the engine, this machine's own iptables and tc enter the service's network
  // namespace directly: a fork and setns, where an exec in the sidecar goes through the engine
  // and containerd (about 100 ms each here). Both are Debian bookworm's tools, so rules one adds
  // the other lists and removes.
  if (auto direct = run_network_tools_directly(service, &argv, timeout)) return *direct;
  return exec(network_sidecar(service), argv, timeout);
}

std::string DockerRuntime::network_tools_route(const std::string& service) {
  require_run(service);
  return run_network_tools_directly(service, nullptr, {}) ? "direct" : "sidecar";
}

}  // namespace firedrill
