#pragma once
// Where services run. A runtime has a handful of operations, each with its contract here; the
// Docker runtime implements them over the Engine API (docker_runtime.hpp), a FakeRuntime does
// for the engine's unit tests.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/confined_file.hpp"
#include "core/errors.hpp"

namespace firedrill {

/// Labels every resource of a run carries; cleanup and the reaper find resources by them.
namespace labels {
inline constexpr const char* run = "io.firedrill.run";
inline constexpr const char* scenario = "io.firedrill.scenario";
inline constexpr const char* owner = "io.firedrill.owner";  // "<host>:<pid>:<process start time>"
inline constexpr const char* service = "io.firedrill.service";
}  // namespace labels

struct VolumeMount {
  std::string volume;  // a named volume of the run (created and labelled by the runtime)
  std::string path;    // mount point in the container
};

/// A filesystem of a fixed size for a service's data directory: a host tmpfs the runtime creates,
/// bind-mounted at `path`, so filling it makes the service's writes fail with ENOSPC while its
/// content survives the container being killed and started again.
struct SizeLimitedMount {
  std::string path;  // mount point in the container
  std::uint64_t bytes = 0;
};

/// A directory of this machine bind-mounted into the container (a backup repository, say). It is
/// created when missing, belongs to the caller and outlives the container and the run.
struct HostDirectoryMount {
  std::filesystem::path source;  // absolute, on this machine
  std::string path;              // mount point in the container
};

struct ContainerSpec {
  std::string service;  // scenario service name; the container is fd-<run-id>-<service>
  std::string image;
  std::vector<std::string> env;      // KEY=VALUE
  std::vector<std::string> command;  // empty: the image's default
  std::vector<int> ports;            // container ports, each published on 127.0.0.1:<ephemeral>
  std::vector<std::string> aliases;  // network aliases (the service name is always one)
  std::vector<VolumeMount> volumes;
  std::vector<std::string> cap_add;
  std::optional<std::string> user;
  std::optional<SizeLimitedMount> size_limited;
  /// Container port -> the 127.0.0.1 port to publish it on; a port not listed gets a free one. A
  /// service brought back after it was destroyed keeps the ports the harness already uses.
  std::map<int, int> host_ports = {};
  std::vector<HostDirectoryMount> host_directories = {};
  /// The command lays the data directory down itself (a standby's clone, a restore) before the
  /// server starts: a runtime that initialises data directories must leave this one alone.
  bool data_from_command = false;
};

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string image_id;
  std::string ip;                   // on the run's network
  std::string gateway;              // the run network's gateway: this machine, as the container sees it
  std::map<int, int> host_ports;    // container port -> port on 127.0.0.1
};

/// A host and port another service of the run connects to.
struct PeerAddress {
  std::string host;
  int port = 0;
};

struct ExecResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr interleaved
};

/// Identity of the process that owns a run; a pid alone could be reused.
struct Owner {
  std::string host;
  int pid = 0;
  unsigned long long start_time = 0;  // /proc/<pid>/stat field 22
  std::string to_label() const;
  static std::optional<Owner> from_label(const std::string& label);
  static Owner self();
  /// True when this process is on this host and still the same process.
  bool alive() const;
};

/// What a run created, as the runtime reports it (for teardown reporting and tests).
struct ResourceCounts {
  int containers = 0;
  int networks = 0;
  int volumes = 0;
  int mounts = 0;  // size-limited filesystems unmounted
};

/// The last `lines` lines of a text.
inline std::string tail_lines(const std::string& text, int lines) {
  std::size_t position = text.size();
  while (lines-- > 0 && position > 0) {
    auto newline = text.rfind('\n', position > 1 ? position - 2 : 0);
    if (newline == std::string::npos) return text;
    position = newline + 1;
  }
  return text.substr(position);
}

/// Where services run: the core every runtime has. What only some runtimes can do is a capability
/// (below), asked for by type with `capability<T>()`; a fault or action that needs one it lacks
/// is refused when the scenario is checked, naming the step and the runtime.
class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual std::string name() const = 0;

  /// Called with (kind, name) — kind is "container", "network", "volume" or "mount" (a host
  /// directory) — before the runtime creates that resource, so the caller can journal it first
  /// (write-ahead).
  using BeforeCreate = std::function<void(const std::string& kind, const std::string& name)>;

  /// Binds this runtime to one run: every later resource carries the run's labels. Must be
  /// called before anything is created; creates nothing itself, so it also binds a runtime to a
  /// run whose owner died, for `firedrill cleanup`.
  virtual void begin_run(const std::string& run_id, const std::string& scenario, const Owner& owner,
                         BeforeCreate before_create) = 0;

  /// Creates and starts a service (the run's network first, with the first service). Throws
  /// EnvironmentError when the image is missing or the engine refuses.
  virtual ContainerInfo start(const ContainerSpec& spec) = 0;

  /// Refreshes what start() returned (ports change after a restart).
  virtual ContainerInfo inspect(const std::string& service) = 0;

  /// Where the run's other services reach `service` on its container_port: by default its
  /// network alias (the service name) and that same port, as containers on one network do. A
  /// runtime whose services share this machine's loopback answers 127.0.0.1 and the port it chose.
  virtual PeerAddress peer_address(const std::string& service, int container_port) {
    return {service, container_port};
  }

  /// Runs argv in the service's container; bounded by timeout (exit_code -1 and a note on timeout).
  virtual ExecResult exec(const std::string& service, const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout) = 0;

  /// True while the service's process exists (a paused one counts as running); false for a
  /// stopped or missing one.
  virtual bool is_running(const std::string& service) = 0;

  /// The service's stdout+stderr so far: the whole log, or its last `last_lines` lines (what a
  /// check polled every few milliseconds reads, so that a long log is not fetched whole each time).
  virtual std::string read_logs(const std::string& service, std::optional<int> last_lines) = 0;

  /// Removes every container, volume and network of this run. Throws listing what it could not
  /// remove; removing what is already gone is not an error.
  virtual void teardown() = 0;

  std::string logs(const std::string& service) { return read_logs(service, std::nullopt); }
  std::string recent_logs(const std::string& service, int lines) { return read_logs(service, lines); }

  /// This runtime as the capability C, or nullptr when it has not got it.
  template <class C>
  C* capability() {
    return dynamic_cast<C*>(this);
  }
};

/// Capability: signals, freezing and restarting the services' processes.
/// How a signal reaches a service's main process.
enum class SignalRoute {
  fastest,  // from this machine straight to the process (kill(2)) where the runtime can, else the engine
  engine,   // through the engine alone, as a remote engine's services are signalled
};

class ProcessControl {
 public:
  static constexpr const char* ability = "signal, pause or restart its services";
  virtual ~ProcessControl() = default;
  /// Sends a signal (name like "KILL", "TERM") the fastest way. With KILL, returns once the
  /// service has stopped; otherwise once the signal is sent.
  virtual void kill(const std::string& service, const std::string& signal) = 0;
  /// As kill(), by `route`; says which way the signal went: "direct" (this machine's kill(2)
  /// on the service's main process) or "engine".
  virtual std::string send_signal(const std::string& service, const std::string& signal, SignalRoute route) {
    (void)route;
    kill(service, signal);
    return "engine";
  }
  virtual void pause(const std::string& service) = 0;
  virtual void unpause(const std::string& service) = 0;
  /// Starts a stopped/killed service again (same volumes, same network identity).
  virtual void start_again(const std::string& service) = 0;
  /// Stop (TERM, then KILL after grace) and start.
  virtual void restart(const std::string& service, std::chrono::seconds grace) = 0;
};

/// Capability: entering each service's own network namespace. A runtime with it takes network
/// faults as rules in those namespaces; one without it (its services share this machine's
/// network) takes them on the fault proxies the engine places between services.
class NetworkNamespaces {
 public:
  static constexpr const char* ability = "enter the network namespaces of its services";
  virtual ~NetworkNamespaces() = default;
  /// Runs argv with NET_ADMIN inside the service's network namespace (its interfaces and its
  /// iptables rules), with tools the service's own image need not have; bounded by timeout like
  /// exec(). Works for a run whose owner died once begin_run() bound the runtime to it. Throws
  /// EnvironmentError when the service is not running.
  virtual ExecResult exec_in_network_namespace(const std::string& service, const std::vector<std::string>& argv,
                                               std::chrono::milliseconds timeout) = 0;
  /// The address connections from `service` come from as its peers see them, fixed before it
  /// starts, so a fault proxy can admit that client alone.
  virtual std::string source_address(const std::string& service) = 0;
  /// As exec_in_network_namespace(), for the network tools alone (iptables, iptables-restore, tc,
  /// ip and shell scripts of them): a runtime may run this machine's own programs in the
  /// service's namespace instead, which see its interfaces and rules but this machine's files, so
  /// nothing that reads or writes a file of the service (its hosts file) may come this way.
  virtual ExecResult exec_network_tools(const std::string& service, const std::vector<std::string>& argv,
                                        std::chrono::milliseconds timeout) {
    return exec_in_network_namespace(service, argv, timeout);
  }
  /// How exec_network_tools() reaches the service's namespace now: "direct" (this machine's own
  /// tools enter it) or "sidecar"; a fault's details record it.
  virtual std::string network_tools_route(const std::string& service) {
    (void)service;
    return "sidecar";
  }
};

/// Capability: the services' files, from this machine.
class FileAccess {
 public:
  static constexpr const char* ability = "reach the files of its services";
  virtual ~FileAccess() = default;
  /// Where on this machine the harness can read and write the file the service sees at
  /// container_path (absolute), so a fault can change a service's files from outside: a root the
  /// runtime chose (a mount's source, the container's filesystem, the service's directory) and the
  /// rest of the path below it, which the service controls and must be opened with open_confined.
  /// Throws EnvironmentError when the files live elsewhere.
  virtual ConfinedPath host_path(const std::string& service, const std::string& container_path) = 0;
  /// Copies the regular file container_path out of the service to host_path (replaced; written
  /// beside it first, so a failed copy never leaves a partial file). Throws EnvironmentError when
  /// the file is missing.
  virtual void copy_from(const std::string& service, const std::string& container_path,
                         const std::filesystem::path& host_path) = 0;
  /// Copies the host file host_path into the service as container_path (mode 0644; its directory
  /// must exist).
  virtual void copy_to(const std::string& service, const std::filesystem::path& host_path,
                       const std::string& container_path) = 0;
};

/// Capability: the services' storage — filesystems of a fixed size, and losing it all.
class Storage {
 public:
  static constexpr const char* ability = "size, remove or destroy the storage of its services";
  virtual ~Storage() = default;
  /// The host directory holding the service's size-limited filesystem (ContainerSpec::size_limited),
  /// for a fault to fill from outside. Throws EnvironmentError when the service has none.
  virtual std::filesystem::path size_limited_mount(const std::string& service) = 0;
  /// Removes the service (running or not) and its anonymous volumes, before the run's teardown; a
  /// service already gone is not an error.
  virtual void remove(const std::string& service) = 0;
  /// Destroys the service as a lost machine would be: its container, its anonymous and named
  /// volumes and the content of its size-limited filesystem. start() may bring it back, empty.
  virtual void destroy(const std::string& service) = 0;
};

/// The capability C of `runtime`. Throws EnvironmentError naming the runtime and what it cannot
/// do, for `who` (a step, say) — validation refuses such a scenario before this is reached.
template <class C>
C& require_capability(Runtime& runtime, const std::string& who = "") {
  if (C* found = runtime.capability<C>()) return *found;
  throw EnvironmentError((who.empty() ? std::string() : who + ": ") + "the " + runtime.name() + " runtime cannot " +
                         C::ability);
}

inline ProcessControl& process_control(Runtime& runtime) { return require_capability<ProcessControl>(runtime); }
inline FileAccess& file_access(Runtime& runtime) { return require_capability<FileAccess>(runtime); }
inline Storage& storage(Runtime& runtime) { return require_capability<Storage>(runtime); }
inline NetworkNamespaces& network_namespaces(Runtime& runtime) { return require_capability<NetworkNamespaces>(runtime); }

}  // namespace firedrill
