#pragma once
#include <filesystem>
#include <map>
#include <set>
#include <mutex>
#include <optional>
// The `docker` runtime: services as containers on a per-run bridge network, driven through the
// Engine API (engine_api.hpp). Containers are addressed by name (fd-<run-id>-<service>), so any
// process that knows the run id can drive or remove them.
#include <string>

#include "harness/runtime/docker/engine_api.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

class DockerRuntime final : public Runtime,
                            public ProcessControl,
                            public NetworkNamespaces,
                            public FileAccess,
                            public Storage {
 public:
  /// Talks to the engine DOCKER_HOST names (default unix:///var/run/docker.sock).
  DockerRuntime();
  explicit DockerRuntime(docker::EngineApi api);

  std::string name() const override { return "docker"; }

  void begin_run(const std::string& run_id, const std::string& scenario, const Owner& owner,
                 BeforeCreate before_create) override;

  /// Picks a /24 from 198.18.0.0/15 that no engine network uses (never 198.18.0.0/24, the
  /// engine's default bridge), with IP masquerading off; retries the next /24 when a concurrent
  /// run took it first. before_create hears the network's name once, however many tries it takes.
  void create_network();

  /// Creates the network first if needed. Never pulls: a missing image is an EnvironmentError.
  /// Each container port is published on an explicit free 127.0.0.1 port, so it stays the same
  /// across kill/start_again and restart.
  ContainerInfo start(const ContainerSpec& spec) override;
  ContainerInfo inspect(const std::string& service) override;
  std::string source_address(const std::string& service) override;
  ExecResult exec_network_tools(const std::string& service, const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout) override;
  std::string network_tools_route(const std::string& service) override;
  /// Network tools through the sidecar even where this machine could enter the namespace itself
  /// (FIREDRILL_NETWORK_TOOLS=sidecar in the environment sets it for a run).
  void set_network_tools_through_sidecar(bool through_sidecar) { network_tools_through_sidecar_ = through_sidecar; }
  ExecResult exec(const std::string& service, const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout) override;
  /// Execs in a sidecar container (fd-<run-id>-<service>-netadmin, image firedrill/base:bookworm,
  /// NET_ADMIN) that shares the service's network namespace. The sidecar is labelled and
  /// announced like every resource, stays up for the run, and is recreated when the service was
  /// restarted into a new namespace.
  ExecResult exec_in_network_namespace(const std::string& service, const std::vector<std::string>& argv,
                                       std::chrono::milliseconds timeout) override;
  void kill(const std::string& service, const std::string& signal) override;
  std::string send_signal(const std::string& service, const std::string& signal, SignalRoute route) override;
  void pause(const std::string& service) override;
  void unpause(const std::string& service) override;
  void start_again(const std::string& service) override;
  void restart(const std::string& service, std::chrono::seconds grace) override;
  /// True while the container's process exists (a paused container counts as running); false
  /// for a stopped or missing container.
  bool is_running(const std::string& service) override;
  /// The container's log; a whole log larger than the engine's answers may be is cut to its end.
  std::string read_logs(const std::string& service, std::optional<int> last_lines) override;
  /// A path under one of the container's mounts maps to the mount's source (a volume's _data
  /// folder); any other path to the container's own overlay2 filesystem: its merged view while it
  /// runs, its upper layer while it is stopped (only for files the container already changed).
  /// Needs the engine's storage on this machine (a local engine, this user allowed to read it).
  ConfinedPath host_path(const std::string& service, const std::string& container_path) override;

  /// GET /containers/{id}/archive, streamed to a temporary file beside host_path.
  void copy_from(const std::string& service, const std::string& container_path,
                 const std::filesystem::path& host_path) override;
  /// PUT /containers/{id}/archive with a one-file tar built in memory (the file's size in RAM).
  void copy_to(const std::string& service, const std::filesystem::path& host_path,
               const std::string& container_path) override;
  void remove(const std::string& service) override;
  void destroy(const std::string& service) override;

  /// size_limited_mount_directory(run id, service) (cleanup.hpp) while its tmpfs is mounted.
  std::filesystem::path size_limited_mount(const std::string& service) override;

  /// Removes everything labelled with this run, including what other processes created for it,
  /// then unmounts and removes the run's size-limited filesystems.
  void teardown() override;

  /// fd-<run-id>
  std::string network_name() const;
  /// fd-<run-id>-<service>
  std::string container_name(const std::string& service) const;
  /// The run network's subnet ("198.18.N.0/24"); empty before create_network().
  const std::string& subnet() const { return subnet_; }

 private:
  nlohmann::json resource_labels(const std::string& service) const;
  void announce(const std::string& kind, const std::string& resource_name) const;
  void require_run() const;
  /// require_run(), then, when the service was killed straight from this machine and the engine
  /// has not been asked about it since, waits until the engine too sees it stopped: until then it
  /// would report it running and refuse to start it again.
  void require_run(const std::string& service);
  /// The service's freezer cgroup control file, when this process can write it.
  std::optional<std::filesystem::path> freezer_control(const std::string& service);
  /// Signals the service's main process from this machine when it is this machine's process in
  /// the container's cgroup (root beside a local engine); false when it is not, or the signal has
  /// no number: the engine is asked instead.
  bool signal_directly(const std::string& service, const std::string& signal);
  /// Runs argv (none: only checks the way is open) with this machine's tools in the service's
  /// network namespace, when this process may enter it; nullopt otherwise (the sidecar's turn).
  std::optional<ExecResult> run_network_tools_directly(const std::string& service, const std::vector<std::string>* argv,
                                                       std::chrono::milliseconds timeout);
  /// Starts (or reuses) the sidecar in the service's current network namespace; returns its
  /// service name for exec().
  std::string network_sidecar(const std::string& service);
  /// Announces, creates and mounts the host tmpfs of spec.size_limited; returns its bind mount.
  nlohmann::json size_limited_bind(const ContainerSpec& spec);

  docker::EngineApi api_;
  std::string run_id_;
  std::string scenario_;
  Owner owner_;
  BeforeCreate before_create_;
  std::string subnet_;
  bool egress_rule_inserted_ = false;  // host_firewall.hpp: this run's rule is in FORWARD
  std::map<std::string, std::string> static_addresses_;  // service -> its fixed address on the run's network
  // The freezer each service was paused through: unpause thaws it first, before asking the engine
  // anything, so a pause ends on time rather than one engine round trip late.
  bool network_tools_through_sidecar_ = false;
  std::mutex killed_mutex_;
  std::set<std::string> killed_directly_;
  std::mutex frozen_mutex_;
  std::map<std::string, std::filesystem::path> frozen_through_;
};

}  // namespace firedrill
