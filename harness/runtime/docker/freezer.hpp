#pragma once
// Freezing a container's processes through its cgroup directly: immediate, where the engine's
// own pause goes through runc and lands 10-30 ms after the request. Open only to a process on the
// same host and PID namespace with write access (root); callers fall back to the engine.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace firedrill {

/// The freezer control of the cgroup a /proc/PID/cgroup text names (cgroup v1 `freezer.state`,
/// v2 `cgroup.freeze`), when that cgroup's path names `container_id` (Docker's cgroupfs and
/// systemd drivers both put the full id in it): nullopt for any other cgroup.
std::optional<std::filesystem::path> freezer_control_in(const std::string& proc_cgroup, const std::string& container_id);

/// The freezer control of container `container_id`, whose main process the engine says is
/// `pid`, when this process can write it. The pid is a number in the engine's pid namespace: read
/// in this process's /proc (an engine socket mounted into another namespace) it may be any local
/// process, firedrill itself included. Only a process whose cgroup names the container counts;
/// otherwise nullopt, and the caller uses the engine's own pause.
std::optional<std::filesystem::path> freezer_control_of(int pid, const std::string& container_id);

/// A pidfd on container `container_id`'s main process, which the engine says is `pid`: open only
/// when that pid is a process of this machine in the container's own cgroup (checked once the
/// pidfd holds it, so the process checked is the process held even if the number is reused);
/// closed with the object. What signals a container's process or enters its namespaces from
/// this machine goes through one.
class ContainerProcess {
 public:
  ContainerProcess(int pid, const std::string& container_id);
  ~ContainerProcess();
  ContainerProcess(const ContainerProcess&) = delete;
  ContainerProcess& operator=(const ContainerProcess&) = delete;
  bool open() const { return pidfd_ >= 0; }
  int pidfd() const { return pidfd_; }

 private:
  int pidfd_ = -1;
};

/// Freezes the cgroup and waits until every task is frozen; false when that took longer than
/// `timeout` (the cgroup may be partly frozen: thaw it).
bool freeze_cgroup(const std::filesystem::path& control, std::chrono::milliseconds timeout);

/// Thaws the cgroup; immediate and idempotent.
void thaw_cgroup(const std::filesystem::path& control);

}  // namespace firedrill
