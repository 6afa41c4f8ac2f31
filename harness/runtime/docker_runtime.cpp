#include "harness/runtime/docker_runtime.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "core/model.hpp"
#include "core/ports.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/freezer.hpp"
#include "harness/runtime/host_firewall.hpp"
#include "harness/runtime/tar_archive.hpp"

namespace firedrill {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

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

bool is_port_conflict(const std::string& message) {
  return message.find("port is already allocated") != std::string::npos ||
         message.find("address already in use") != std::string::npos;
}

std::map<int, int> host_ports_of(const json& container) {
  std::map<int, int> ports;
  const auto read_bindings = [&](const json& bindings_by_port) {
    if (!bindings_by_port.is_object()) return;
    for (const auto& [key, bindings] : bindings_by_port.items()) {
      if (!bindings.is_array()) continue;
      for (const auto& binding : bindings) {
        const auto host_port = binding.value("HostPort", std::string());
        if (host_port.empty()) continue;
        try {
          ports[std::stoi(key)] = std::stoi(host_port);
        } catch (const std::exception&) {
        }
        break;
      }
    }
  };
  // While stopped the live port map is empty; the explicit bindings still say where it will be.
  if (container.contains("HostConfig")) read_bindings(container["HostConfig"].value("PortBindings", json::object()));
  if (container.contains("NetworkSettings")) read_bindings(container["NetworkSettings"].value("Ports", json::object()));
  return ports;
}

}  // namespace

DockerRuntime::DockerRuntime() : DockerRuntime(docker::EngineApi::from_environment()) {}

DockerRuntime::DockerRuntime(docker::EngineApi api) : api_(std::move(api)) {}

void DockerRuntime::begin_run(const std::string& run_id, const std::string& scenario,
                              const Owner& owner, BeforeCreate before_create) {
  run_id_ = run_id;
  scenario_ = scenario;
  owner_ = owner;
  before_create_ = std::move(before_create);
  subnet_.clear();
}

std::string DockerRuntime::network_name() const { return "fd-" + run_id_; }

std::string DockerRuntime::container_name(const std::string& service) const {
  return fmt::format("fd-{}-{}", run_id_, service);
}

std::string DockerRuntime::source_address(const std::string& service) {
  require_run();
  if (subnet_.empty()) create_network();
  return static_addresses_.try_emplace(service, address_in_subnet(subnet_, static_addresses_.size() + 2)).first->second;
}

json DockerRuntime::resource_labels(const std::string& service) const {
  json result = {{labels::run, run_id_}, {labels::scenario, scenario_}, {labels::owner, owner_.to_label()}};
  if (!service.empty()) result[labels::service] = service;
  return result;
}

void DockerRuntime::announce(const std::string& kind, const std::string& resource_name) const {
  if (before_create_) before_create_(kind, resource_name);
}

void DockerRuntime::require_run() const {
  if (run_id_.empty()) throw std::logic_error("DockerRuntime used before begin_run()");
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

ContainerInfo DockerRuntime::start(const ContainerSpec& spec) {
  require_run();
  if (subnet_.empty()) create_network();
  const std::string name = container_name(spec.service);

  try {
    api_.get(fmt::format("/images/{}/json", docker::image_path(spec.image)));
  } catch (const docker::EngineError& error) {
    if (error.status() == 404) {
      throw EnvironmentError(fmt::format(
          "image '{}' is not present; build the fixture images with fixtures/images/build (ci/setup does)",
          spec.image));
    }
    throw EnvironmentError(fmt::format("cannot inspect image '{}': {}", spec.image, error.what()));
  }

  json mounts = json::array();
  for (size_t index = 0; index < spec.volumes.size(); ++index) {
    const std::string volume = fmt::format("fd-{}-{}-{}", run_id_, spec.service, index);
    announce("volume", volume);
    try {
      api_.post("/volumes/create", {{"Name", volume}, {"Labels", resource_labels(spec.service)}});
    } catch (const docker::EngineError& error) {
      throw EnvironmentError(fmt::format("cannot create volume {}: {}", volume, error.what()));
    }
    mounts.push_back({{"Type", "volume"}, {"Source", volume}, {"Target", spec.volumes[index].path}});
  }
  if (spec.size_limited) mounts.push_back(size_limited_bind(spec));
  for (const auto& directory : spec.host_directories) {
    // Journalled as a bind, not a mount: cleanup leaves the caller's directory alone.
    announce("bind", directory.source.string());
    std::error_code error;
    std::filesystem::create_directories(directory.source, error);
    if (error)
      throw EnvironmentError(fmt::format("cannot create {} for '{}': {}", directory.source.string(), spec.service,
                                         error.message()));
    mounts.push_back({{"Type", "bind"}, {"Source", directory.source.string()}, {"Target", directory.path}});
  }

  std::vector<std::string> aliases{spec.service};
  for (const auto& alias : spec.aliases) {
    if (std::find(aliases.begin(), aliases.end(), alias) == aliases.end()) aliases.push_back(alias);
  }

  // Services find each other through /etc/hosts, not DNS: a stopped container's name is unknown
  // to the engine's resolver, which then forwards the query off the machine and makes every
  // reconnect wait for a DNS timeout. Fixed addresses keep names resolvable, locally and at
  // once, across restarts.
  const auto address = source_address(spec.service);
  json extra_hosts = json::array();
  for (const auto& [service, other] : static_addresses_) extra_hosts.push_back(service + ":" + other);

  constexpr int attempts = 5;
  for (int attempt = 1;; ++attempt) {
    json exposed = json::object();
    json bindings = json::object();
    for (int port : spec.ports) {
      const std::string key = fmt::format("{}/tcp", port);
      exposed[key] = json::object();
      const auto kept = spec.host_ports.find(port);
      const int host_port = kept != spec.host_ports.end() ? kept->second : free_loopback_port();
      bindings[key] = json::array({{{"HostIp", "127.0.0.1"}, {"HostPort", std::to_string(host_port)}}});
    }
    json host_config = {{"NetworkMode", network_name()}, {"PortBindings", bindings}, {"Mounts", mounts},
                        {"ExtraHosts", extra_hosts}, {"DnsOptions", {"timeout:1", "attempts:1"}}};
    if (!spec.cap_add.empty()) host_config["CapAdd"] = spec.cap_add;
    json request = {
        {"Image", spec.image},
        {"Env", spec.env},
        {"Labels", resource_labels(spec.service)},
        {"ExposedPorts", exposed},
        {"HostConfig", host_config},
        {"NetworkingConfig",
         {{"EndpointsConfig",
           {{network_name(), {{"Aliases", aliases}, {"IPAMConfig", {{"IPv4Address", address}}}}}}}}},
    };
    if (!spec.command.empty()) request["Cmd"] = spec.command;
    if (spec.user) request["User"] = *spec.user;

    if (attempt == 1) announce("container", name);
    try {
      api_.post("/containers/create?name=" + docker::url_encode(name), request);
    } catch (const docker::EngineError& error) {
      throw EnvironmentError(
          fmt::format("cannot create container {} for service '{}': {}", name, spec.service, error.what()));
    }
    try {
      api_.post(fmt::format("/containers/{}/start", name));
      break;
    } catch (const docker::EngineError& error) {
      const std::string message = error.what();
      try {
        api_.del(fmt::format("/containers/{}?force=1&v=1", name));
      } catch (const docker::EngineError&) {
      }
      if (!is_port_conflict(message) || attempt == attempts) {
        throw EnvironmentError(
            fmt::format("cannot start container {} for service '{}': {}", name, spec.service, message));
      }
    }
  }
  return inspect(spec.service);
}

ContainerInfo DockerRuntime::inspect(const std::string& service) {
  require_run();
  const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  ContainerInfo info;
  info.id = container.value("Id", std::string());
  info.name = container.value("Name", std::string());
  if (info.name.starts_with('/')) info.name.erase(0, 1);
  info.image_id = container.value("Image", std::string());
  const auto& settings = container.value("NetworkSettings", json::object());
  if (settings.contains("Networks") && settings["Networks"].contains(network_name())) {
    info.ip = settings["Networks"][network_name()].value("IPAddress", std::string());
    info.gateway = settings["Networks"][network_name()].value("Gateway", std::string());
  }
  info.host_ports = host_ports_of(container);
  return info;
}

ExecResult DockerRuntime::exec(const std::string& service, const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout) {
  require_run();
  const auto deadline = Clock::now() + timeout;
  const auto remaining = [&] {
    return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  };
  const auto timed_out = [&](std::string partial) {
    ExecResult result;
    result.output = std::move(partial);
    result.output += fmt::format("\n[exec timed out after {} ms]\n", timeout.count());
    return result;
  };

  try {
    const json created = api_.post(fmt::format("/containers/{}/exec", container_name(service)),
                                   {{"AttachStdout", true}, {"AttachStderr", true}, {"Cmd", argv}}, remaining());
    const std::string exec_id = created.is_object() ? created.value("Id", std::string()) : std::string();
    if (exec_id.empty()) {
      throw docker::EngineError(500, fmt::format("exec in {} returned no id", container_name(service)));
    }
    const auto stream = api_.request("POST", fmt::format("/exec/{}/start", exec_id),
                                     json{{"Detach", false}, {"Tty", false}}, remaining());
    ExecResult result;
    result.output = docker::demux_stream(stream.body);
    // The stream can close a moment before the engine records the exit code.
    while (true) {
      const json state = api_.get(fmt::format("/exec/{}/json", exec_id));
      if (!state.value("Running", false) && state.contains("ExitCode") && state["ExitCode"].is_number()) {
        result.exit_code = state["ExitCode"].get<int>();
        return result;
      }
      if (Clock::now() >= deadline) return timed_out(std::move(result.output));
      std::this_thread::sleep_for(milliseconds(10));
    }
  } catch (const docker::EngineTimeout& timeout_error) {
    return timed_out(docker::demux_stream(timeout_error.partial_body()));
  }
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
  require_run();
  return exec(network_sidecar(service), argv, timeout);
}

void DockerRuntime::kill(const std::string& service, const std::string& signal) {
  require_run();
  api_.post(fmt::format("/containers/{}/kill?signal={}", container_name(service), docker::url_encode(signal)));
}

std::optional<std::filesystem::path> DockerRuntime::freezer_control(const std::string& service) {
  const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  return freezer_control_of(container.value("State", json::object()).value("Pid", 0), container.value("Id", std::string()));
}

void DockerRuntime::pause(const std::string& service) {
  require_run();
  // The engine freezes and thaws through runc, 10-30 ms after the request and varying with
  // load; writing the container's freezer cgroup directly takes effect at once, which is what
  // lets a pause last exactly its duration. The engine is used where that path is not open to
  // this process (a remote or rootless engine). The engine keeps seeing the container as running,
  // so unpause (and teardown, and cleanup) always thaw it before anything else touches it.
  if (auto control = freezer_control(service)) {
    {
      std::lock_guard lock(frozen_mutex_);
      frozen_through_[service] = *control;
    }
    if (!freeze_cgroup(*control, std::chrono::seconds(5))) {
      thaw_cgroup(*control);
      {
        std::lock_guard lock(frozen_mutex_);
        frozen_through_.erase(service);
      }
      throw EnvironmentError(fmt::format("the processes of '{}' did not freeze within 5 s", service));
    }
    return;
  }
  api_.post(fmt::format("/containers/{}/pause", container_name(service)));
}

void DockerRuntime::unpause(const std::string& service) {
  require_run();
  {
    // Paused through its freezer by this runtime: thawing it is the whole of unpausing (the engine
    // never saw the pause), and no engine call competes with the service for the CPU as it wakes.
    std::lock_guard lock(frozen_mutex_);
    if (auto frozen = frozen_through_.find(service); frozen != frozen_through_.end()) {
      thaw_cgroup(frozen->second);
      frozen_through_.erase(frozen);
      return;
    }
  }
  // Paused by the engine, or by a run that died: whatever freezer the container is in, then the
  // engine's own pause.
  const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  const json state = container.value("State", json::object());
  if (auto control = freezer_control_of(state.value("Pid", 0), container.value("Id", std::string()))) thaw_cgroup(*control);
  if (state.value("Paused", false)) api_.post(fmt::format("/containers/{}/unpause", container_name(service)));
}

void DockerRuntime::start_again(const std::string& service) {
  require_run();
  api_.post(fmt::format("/containers/{}/start", container_name(service)));
}

void DockerRuntime::restart(const std::string& service, std::chrono::seconds grace) {
  require_run();
  api_.post(fmt::format("/containers/{}/restart?t={}", container_name(service), grace.count()),
            json::object(), grace + std::chrono::seconds(60));
}

bool DockerRuntime::is_running(const std::string& service) {
  require_run();
  try {
    const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
    return container.value("State", json::object()).value("Running", false);
  } catch (const docker::EngineError& error) {
    if (error.status() == 404) return false;
    throw;
  }
}

std::string DockerRuntime::read_logs(const std::string& service, std::optional<int> last_lines) {
  require_run();
  if (last_lines)
    return docker::demux_stream(
        api_.request("GET", fmt::format("/containers/{}/logs?stdout=1&stderr=1&tail={}", container_name(service), *last_lines))
            .body);
  const std::string path = fmt::format("/containers/{}/logs?stdout=1&stderr=1", container_name(service));
  try {
    return docker::demux_stream(api_.request("GET", path).body);
  } catch (const docker::EngineError& error) {
    if (error.status() != 0) throw;
  }
  // Larger than firedrill keeps: the end of it, which says how the service ended.
  constexpr int kept_lines = 100000;
  return fmt::format("[firedrill: this log is larger than {} MiB; only its last {} lines follow]\n",
                     docker::max_response_bytes >> 20, kept_lines) +
         read_logs(service, kept_lines);
}

ConfinedPath DockerRuntime::host_path(const std::string& service, const std::string& container_path) {
  require_run();
  const std::filesystem::path inside = std::filesystem::path(container_path).lexically_normal();
  if (!inside.is_absolute())
    throw EnvironmentError(fmt::format("'{}' is not an absolute path in the container of '{}'", container_path, service));
  json container;
  try {
    container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot inspect '{}' to find its files: {}", service, error.what()));
  }
  const auto below = [&inside](const std::filesystem::path& root) -> std::optional<std::filesystem::path> {
    const auto rest = inside.lexically_relative(root);
    if (rest.empty() || *rest.begin() == "..") return std::nullopt;
    return rest == "." ? std::filesystem::path() : rest;
  };
  const auto on_this_machine = [&](const std::filesystem::path& root) {
    std::error_code error;
    if (!std::filesystem::is_directory(root, error))
      throw EnvironmentError(fmt::format(
          "the files of '{}' are at {} on the engine's machine, which this process cannot see (a remote or rootless engine?)",
          service, root.string()));
  };

  // The deepest mount wins: a volume mounted inside another hides that part of it.
  std::optional<std::filesystem::path> mount_source;
  std::filesystem::path mount_rest;
  std::size_t mount_depth = 0;
  for (const auto& mount : container.value("Mounts", json::array())) {
    const std::filesystem::path destination = mount.value("Destination", std::string());
    const std::string source = mount.value("Source", std::string());
    if (destination.empty() || source.empty()) continue;
    const auto rest = below(destination.lexically_normal());
    const auto depth = static_cast<std::size_t>(std::distance(destination.begin(), destination.end()));
    if (rest && (!mount_source || depth > mount_depth)) {
      mount_source = source;
      mount_rest = *rest;
      mount_depth = depth;
    }
  }
  if (mount_source) {
    on_this_machine(*mount_source);
    return {*mount_source, mount_rest};
  }

  const json graph = container.value("GraphDriver", json::object());
  const json data = graph.value("Data", json::object());
  if (graph.value("Name", std::string()) != "overlay2" || !data.is_object())
    throw EnvironmentError(fmt::format("'{}' is not on overlay2 storage, so {} has no path on this machine",
                                       service, container_path));
  const auto relative = inside.relative_path();
  if (container.value("State", json::object()).value("Running", false)) {
    const std::filesystem::path merged = data.value("MergedDir", std::string());
    on_this_machine(merged);
    return {merged, relative};
  }
  // A stopped container's merged view is unmounted; only what it changed is in its upper layer.
  const std::filesystem::path upper = data.value("UpperDir", std::string());
  on_this_machine(upper);
  try {
    ::close(open_confined({upper, relative}, O_PATH));
  } catch (const std::runtime_error&) {
    throw EnvironmentError(fmt::format("'{}' is stopped and {} is not in its writable layer; start it first", service,
                                       container_path));
  }
  return {upper, relative};
}

void DockerRuntime::copy_from(const std::string& service, const std::string& container_path,
                              const std::filesystem::path& host_path) {
  require_run();
  std::filesystem::path partial = host_path;
  partial += ".partial";
  // Exclusive and never through a symlink: the folder is the harness's own, and a name that is
  // already there is not one this copy may replace through.
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw EnvironmentError(fmt::format("cannot create {}: {}", partial.string(), std::strerror(errno)));
  tar::FirstFileReader reader([&](std::string_view data) {
    while (!data.empty()) {
      const auto written = ::write(fd, data.data(), data.size());
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) throw std::runtime_error(fmt::format("cannot write {}: {}", partial.string(), std::strerror(errno)));
      data.remove_prefix(static_cast<std::size_t>(written));
    }
  });
  bool closed = false;
  const auto fail = [&](const std::string& why) {
    if (!closed) ::close(fd);
    closed = true;
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    return EnvironmentError(fmt::format("cannot copy {} out of '{}': {}", container_path, service, why));
  };
  try {
    api_.stream("GET",
                fmt::format("/containers/{}/archive?path={}", container_name(service), docker::url_encode(container_path)),
                {}, "application/x-tar", [&](std::string_view bytes) { reader.feed(bytes); }, std::chrono::hours(6));
  } catch (const docker::EngineError& error) {
    throw fail(error.what());
  } catch (const std::runtime_error& error) {
    throw fail(error.what());
  }
  if (!reader.complete()) throw fail("the engine's archive ended before the file did");
  closed = true;
  if (::close(fd) != 0) throw fail("the file could not be written completely");
  std::error_code error;
  std::filesystem::rename(partial, host_path, error);
  if (error) throw fail(error.message());
}

void DockerRuntime::copy_to(const std::string& service, const std::filesystem::path& host_path,
                            const std::string& container_path) {
  require_run();
  const std::filesystem::path target(container_path);
  std::ifstream in(host_path, std::ios::binary);
  std::error_code size_error;
  const std::uintmax_t size = std::filesystem::file_size(host_path, size_error);
  if (!in || size_error) throw EnvironmentError(fmt::format("cannot read {}", host_path.string()));
  const std::string directory = target.parent_path().empty() ? "/" : target.parent_path().string();
  // The archive is sent as it is read: a backup is never held in memory, once or twice.
  const std::string header = tar::file_header(target.filename().string(), size, 0644);
  const std::string trailer = tar::padding(size) + tar::end_of_archive();
  std::uint64_t offset = 0;
  const std::uint64_t total = header.size() + size + trailer.size();
  const auto read = [&](char* buffer, std::size_t capacity) -> std::size_t {
    std::size_t filled = 0;
    while (filled < capacity && offset < total) {
      if (offset < header.size()) {
        const std::size_t n = std::min<std::uint64_t>(capacity - filled, header.size() - offset);
        std::memcpy(buffer + filled, header.data() + offset, n);
        filled += n;
        offset += n;
      } else if (offset < header.size() + size) {
        const std::size_t n = std::min<std::uint64_t>(capacity - filled, header.size() + size - offset);
        in.read(buffer + filled, static_cast<std::streamsize>(n));
        if (in.gcount() != static_cast<std::streamsize>(n))
          throw EnvironmentError(fmt::format("{} changed while it was copied (shorter than {} bytes)", host_path.string(), size));
        filled += n;
        offset += n;
      } else {
        const std::uint64_t at = offset - header.size() - size;
        const std::size_t n = std::min<std::uint64_t>(capacity - filled, trailer.size() - at);
        std::memcpy(buffer + filled, trailer.data() + at, n);
        filled += n;
        offset += n;
      }
    }
    return filled;
  };
  try {
    api_.upload(fmt::format("/containers/{}/archive?path={}", container_name(service), docker::url_encode(directory)),
                "application/x-tar", total, read, std::chrono::hours(1));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot copy {} into '{}' as {}: {}", host_path.string(), service, container_path,
                                       error.what()));
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(fmt::format("cannot copy {} into '{}' as {}: {}", host_path.string(), service, container_path,
                                       error.what()));
  }
}

void DockerRuntime::remove(const std::string& service) {
  require_run();
  try {
    api_.request("DELETE", fmt::format("/containers/{}?force=1&v=1", container_name(service)));
  } catch (const docker::EngineError& error) {
    if (error.status() != 404) throw EnvironmentError(fmt::format("cannot remove '{}': {}", service, error.what()));
  }
}

void DockerRuntime::destroy(const std::string& service) {
  remove(service);
  const std::string filter = docker::url_encode(
      json{{"label", {fmt::format("{}={}", labels::run, run_id_), fmt::format("{}={}", labels::service, service)}}}.dump());
  try {
    const json volumes = api_.get("/volumes?filters=" + filter);
    for (const auto& volume : volumes.value("Volumes", json::array()))
      api_.request("DELETE", fmt::format("/volumes/{}?force=1", docker::url_encode(volume.value("Name", ""))));
  } catch (const docker::EngineError& error) {
    throw EnvironmentError(fmt::format("cannot remove the volumes of '{}': {}", service, error.what()));
  }
  // The tmpfs stays mounted (the journal still owns it) but loses everything it held.
  const auto directory = size_limited_mount_directory(run_id_, service);
  if (!is_mount_point(directory)) return;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) std::filesystem::remove_all(entry.path(), error);
  if (error) throw EnvironmentError(fmt::format("cannot empty {}: {}", directory.string(), error.message()));
}

json DockerRuntime::size_limited_bind(const ContainerSpec& spec) {
  // A host tmpfs rather than an engine tmpfs volume: the engine empties those whenever the
  // container stops, and a killed database must come back with its data.
  const auto directory = size_limited_mount_directory(run_id_, spec.service);
  announce("mount", directory.string());
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error)
    throw EnvironmentError(fmt::format("cannot create {} for the data of '{}': {}", directory.string(), spec.service,
                                       error.message()));
  // Other users of this machine must not reach the data: they could plant a symlink for a fault
  // the harness applies as root, or edit the files whose loss the drill measures. The run's
  // folder is root's alone; the engine (root) bind-mounts from it, and the image's entrypoint,
  // which starts as root, gives the mount to its server's user (postgres, redis, Patroni).
  ::chmod(size_limited_mount_root().c_str(), 0711);
  if (::chmod(directory.parent_path().c_str(), 0700) != 0)
    throw EnvironmentError(fmt::format("cannot make {} private: {}", directory.parent_path().string(), std::strerror(errno)));
  if (!is_mount_point(directory)) {
    const std::string options = fmt::format("size={},mode=0700", spec.size_limited->bytes);
    if (::mount("tmpfs", directory.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0)
      throw EnvironmentError(fmt::format("cannot mount a {}-byte tmpfs at {} for '{}': {} (it needs root on the engine's host)",
                                         spec.size_limited->bytes, directory.string(), spec.service, std::strerror(errno)));
  }
  return {{"Type", "bind"}, {"Source", directory.string()}, {"Target", spec.size_limited->path}};
}

std::filesystem::path DockerRuntime::size_limited_mount(const std::string& service) {
  require_run();
  const auto directory = size_limited_mount_directory(run_id_, service);
  if (!is_mount_point(directory))
    throw EnvironmentError(fmt::format("'{}' has no size-limited filesystem (no {} mounted); give the service `disk:`",
                                       service, directory.string()));
  return directory;
}

void DockerRuntime::teardown() {
  if (run_id_.empty()) return;
  CleanupReport report = docker::remove_labelled(api_, fmt::format("{}={}", labels::run, run_id_));
  release_size_limited_mounts(run_id_, false, report.errors);
  if (egress_rule_inserted_) {
    try {
      delete_egress_rule(subnet_, run_id_);
      egress_rule_inserted_ = false;
    } catch (const EnvironmentError& error) {
      report.errors.push_back(error.what());
    }
  }
  subnet_.clear();
  if (!report.errors.empty()) {
    std::string listing;
    for (const auto& error : report.errors) listing += "\n  " + error;
    throw EnvironmentError(fmt::format("teardown of run {} could not remove:{}", run_id_, listing));
  }
}

}  // namespace firedrill
