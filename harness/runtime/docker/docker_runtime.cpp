#include "harness/runtime/docker/docker_runtime.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>
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
#include "harness/runtime/docker/freezer.hpp"
#include "harness/runtime/docker/host_firewall.hpp"
#include "harness/runtime/docker/tar_archive.hpp"

namespace firedrill {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

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

DockerRuntime::DockerRuntime(docker::EngineApi api) : api_(std::move(api)) {
  const char* tools = std::getenv("FIREDRILL_NETWORK_TOOLS");
  network_tools_through_sidecar_ = tools != nullptr && std::string_view(tools) == "sidecar";
}

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

void DockerRuntime::require_run(const std::string& service) {
  require_run();
  {
    std::lock_guard lock(killed_mutex_);
    if (killed_directly_.erase(service) == 0) return;
  }
  try {
    api_.post(fmt::format("/containers/{}/wait?condition=not-running", container_name(service)), json::object(),
              std::chrono::seconds(10));
  } catch (const docker::EngineError&) {
    // Removed meanwhile: the call that follows meets the same engine and says so.
  } catch (const docker::EngineTimeout&) {
    // The engine did not see the exit within 10 s: likewise.
  }
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
  require_run(service);
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
  require_run(service);
  const auto deadline = SteadyClock::now() + timeout;
  const auto remaining = [&] {
    return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()));
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
      if (SteadyClock::now() >= deadline) return timed_out(std::move(result.output));
      std::this_thread::sleep_for(milliseconds(10));
    }
  } catch (const docker::EngineTimeout& timeout_error) {
    return timed_out(docker::demux_stream(timeout_error.partial_body()));
  }
}

bool DockerRuntime::is_running(const std::string& service) {
  require_run(service);
  try {
    const json container = api_.get(fmt::format("/containers/{}/json", container_name(service)));
    return container.value("State", json::object()).value("Running", false);
  } catch (const docker::EngineError& error) {
    if (error.status() == 404) return false;
    throw;
  }
}

std::string DockerRuntime::read_logs(const std::string& service, std::optional<int> last_lines) {
  require_run(service);
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
