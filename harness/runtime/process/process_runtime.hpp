#pragma once
// The `process` runtime: each service is a process of this machine, in a process group of its
// own, listening on a free 127.0.0.1 port; no container engine and no root needed. The image a
// scenario names chooses the program's recipe (program_recipe.hpp; recipes/: postgres, redis and
// its sentinels, the fixture app); anything else is refused. The runtime does the same for every
// program: its place (service_place.hpp), its ports, its user, its process group, cgroup and pid
// file (spawn.hpp), its signals, files and logs; the recipe says what its program runs, how it
// listens where the runtime placed it, what it needs before its first start and how an exec of
// its client tools reaches it.
//
// Everything of a service lives in <run dir>/services/<service>/, which the run's journal names
// (kind "process") before the process starts. As root, servers run as their own user (postgres
// refuses root; a redis-server's client must not make root write files) and the app as the
// harness's user.
//
// A service's commands see container paths as the image would: the image's data directory, /tmp
// (the service's own tmp/, never this machine's), /etc/pgbackrest and the spec's host directories
// are rewritten to their places in the service directory, in arguments and in `sh -c` scripts
// alike, so the backup, verification, restore and WAL-archiving code runs unchanged on both
// runtimes. exec runs as the harness's user (as `docker exec` runs as the image's root) in the
// service's process group, so what it leaves running stops with the service. Without root,
// chown/setpriv/runuser are stand-ins that change nothing (every service runs as the harness's
// user).
//
// The services share this machine's network, so network faults act on the fault proxies the engine
// places between services (partition blackholes them, latency delays them, loss delays chunks as
// TCP retransmits them), and `repoint` points the proxies in front of a name at another service.
// Patroni is refused with an EnvironmentError naming the runtime. A size-limited filesystem (`disk:`, disk-full) is a tmpfs
// mounted on the service's data/, which needs root: journalled (kind "mount") before it is
// mounted, unmounted once the service's processes are stopped; refused without root.
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness/runtime/process/process_group.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

class ProcessRuntime final : public Runtime, public ProcessControl, public FileAccess, public Storage {
 public:
  /// Runs are written where the drill writes them: <out_dir>/<run-id> is the run directory.
  explicit ProcessRuntime(std::filesystem::path out_dir);
  ~ProcessRuntime() override;

  std::string name() const override { return "process"; }

  void begin_run(const std::string& run_id, const std::string& scenario, const Owner& owner,
                 BeforeCreate before_create) override;

  /// Initialises the data directory on first start (postgres), then starts the program on the
  /// spec's host_ports or free 127.0.0.1 ports. Refuses (EnvironmentError) an unknown image, a
  /// command it cannot run without the image's shell, volumes other than the data directory, and
  /// a size-limited filesystem unless the harness runs as root (it mounts a tmpfs on data/).
  ContainerInfo start(const ContainerSpec& spec) override;
  /// ip and gateway 127.0.0.1, host_ports as chosen at start, id "pid <n>", image_id the program.
  ContainerInfo inspect(const std::string& service) override;
  /// 127.0.0.1 and the port the service listens on for container_port.
  PeerAddress peer_address(const std::string& service, int container_port) override;

  /// Runs argv on this machine in the service's directory, with the service's environment, as the
  /// harness's user (as `docker exec` runs as the image's root), in a process group of its own
  /// (killed at the timeout). For postgres PGHOST (its socket
  /// directory), PGPORT and PGDATA are set, so `psql -U user` reaches it as a local, trusted
  /// connection as in the image; for redis, `redis-cli` gets `-p <port>` unless it names one.
  ExecResult exec(const std::string& service, const std::vector<std::string>& argv,
                  std::chrono::milliseconds timeout) override;

  /// KILL goes to the whole process group, as a container's processes all die with it; any
  /// other signal to the service's main process only, as the engine delivers it.
  void kill(const std::string& service, const std::string& signal) override;
  std::string send_signal(const std::string& service, const std::string& signal, SignalRoute) override {
    kill(service, signal);
    return "direct";
  }
  /// SIGSTOP / SIGCONT to the process group.
  void pause(const std::string& service) override;
  void unpause(const std::string& service) override;
  /// The same program on the same data directory and ports.
  void start_again(const std::string& service) override;
  /// The image's stop signal (SIGINT for postgres, SIGTERM otherwise), SIGKILL after grace, start.
  void restart(const std::string& service, std::chrono::seconds grace) override;
  /// True while the main process exists (a stopped one counts); once it is gone, whatever is left
  /// of its group is killed, as a container's processes die with its first one.
  bool is_running(const std::string& service) override;
  /// The service's log file (its last 64 MiB at most; its last megabyte for a few lines).
  std::string read_logs(const std::string& service, std::optional<int> last_lines) override;
  /// The data path of the image (PGDATA, /data) maps to data/, /tmp to tmp/, a host_directories
  /// mount to its source, a path already in the service directory to itself; anything else is
  /// refused.
  ConfinedPath host_path(const std::string& service, const std::string& container_path) override;
  void copy_from(const std::string& service, const std::string& container_path,
                 const std::filesystem::path& host_path) override;
  void copy_to(const std::string& service, const std::filesystem::path& host_path,
               const std::string& container_path) override;
  /// Kills the service's processes, then unmounts its size-limited filesystem and removes its data;
  /// its log stays.
  void remove(const std::string& service) override;
  void destroy(const std::string& service) override;
  /// Kills every recorded process of the run (found by the pid files, so a runtime that did not
  /// start them can), then unmounts their size-limited filesystems and removes the services' data.
  /// Throws listing what stayed.
  void teardown() override;

  /// <out_dir>/<run-id>/services/<service>
  std::filesystem::path service_directory(const std::string& service) const;
  /// The service's data/ while a size-limited tmpfs is mounted on it; EnvironmentError otherwise.
  std::filesystem::path size_limited_mount(const std::string& service) override;

 private:
  struct ServiceProcess;

  ServiceProcess& state_of(const std::string& service);
  ServiceProcess* find_state(const std::string& service);
  /// The record of the service's process: this runtime's, else its pid file.
  std::optional<RecordedProcess> recorded(const std::string& service);
  void launch(ServiceProcess& state);
  /// Runs a program of the service to completion (initdb, single-user mode), recorded like a
  /// service process; throws EnvironmentError with its log tail when it fails.
  void run_to_completion(ServiceProcess& state, const std::vector<std::string>& argv, const std::filesystem::path& input,
                         std::chrono::seconds timeout, const std::string& what);
  /// Journals the service (its pid file, kind "process", and its cgroup) once; returns the cgroup.
  std::optional<std::filesystem::path> announce(const ServiceProcess& state);
  /// Starts argv as the service's process (as its user, or as the harness's when !as_service_user).
  int spawn(ServiceProcess& state, const std::vector<std::string>& argv, const std::filesystem::path& input,
            bool as_service_user = true);
  bool reap(ServiceProcess& state);
  void stop_processes(ServiceProcess& state, std::vector<std::string>& errors);
  void require_run() const;
  /// Journals (kind "mount") and mounts a tmpfs of the spec's size on the service's data/, once.
  void mount_size_limited(ServiceProcess& state);

  std::filesystem::path out_dir_;
  std::string run_id_;
  BeforeCreate before_create_;
  std::set<std::string> announced_;
  std::recursive_mutex mutex_;
  std::map<std::string, std::unique_ptr<ServiceProcess>> services_;
};

}  // namespace firedrill
