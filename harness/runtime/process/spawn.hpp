#pragma once
// Forking the processes of a service of the process runtime and the commands an exec runs beside
// them. The harness has other threads, so a child does only async-signal-safe calls between fork
// and exec; it inherits no descriptor of the harness (close_range), and it runs only once the
// harness has recorded it (its pid file, its cgroup), so whatever happens to the harness, no
// process of a service runs unrecorded.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "harness/runtime/process/process_group.hpp"
#include "harness/runtime/process/service_place.hpp"
#include "harness/runtime/runtime.hpp"

namespace firedrill {

/// A process to start as the service's (spawn_service_process).
struct SpawnRequest {
  std::vector<std::string> argv;  // argv[0] is resolved on the service's stand-ins, then the search path
  std::vector<std::string> environment;  // KEY=VALUE: the whole of it
  std::filesystem::path input = "/dev/null";  // its standard input
  bool as_service_user = true;  // false: as the harness's user, even as root
  bool private_files = false;   // what it creates is private (umask 077)
  std::optional<std::filesystem::path> cgroup;  // created already; nullopt: none
  std::string program;  // the program's name and its user, for the hint when, as
  std::string user;     // root, the user cannot enter the service directory
};

/// Forks the process in a process group of its own, in the service directory, its stdout and
/// stderr appended to the service's log, moved into the cgroup and written to the pid file
/// before it may run; `recorded` is set then, so the caller knows the process even when exec
/// fails. Returns its pid, a child awaited by pid (child_reaper.hpp) that the caller reaps.
/// Throws EnvironmentError when it cannot be prepared, recorded, switch users, enter the
/// directory or exec.
int spawn_service_process(const ServicePlace& place, const SpawnRequest& request, std::optional<RecordedProcess>& recorded);

/// Blocks until `pid` (a child awaited by pid) exits or `deadline`; its exit code (128 + the
/// signal for a killed one), or nullopt at the deadline.
std::optional<int> wait_child(int pid, std::chrono::steady_clock::time_point deadline);

/// Runs `command` with `environment` in the service directory, as the harness's user, its output
/// (stdout and stderr) collected; killed at `timeout` (exit code -1 and a note in the output).
/// While the service runs (`running`) the command joins its process group and cgroup, so what it
/// leaves running (a server pg_ctl started) stops with the service, as in a container.
ExecResult run_beside_service(const ServicePlace& place, const std::optional<RecordedProcess>& running,
                              const std::vector<std::string>& command, const std::vector<std::string>& environment,
                              std::chrono::milliseconds timeout);

/// Runs `command` in the network namespace of the process `pidfd` holds (setns), with this
/// machine's programs and files, as this process's user, with a fixed search path and nothing
/// else in its environment; output collected and killed at `timeout` as run_beside_service.
/// For the network tools only: whatever the command opens by path is this machine's.
ExecResult run_in_network_namespace_of(int pidfd, const std::vector<std::string>& command,
                                       std::chrono::milliseconds timeout);

}  // namespace firedrill
