#pragma once
// One cgroup (v2) per service of the `process` runtime, when firedrill can make one: as root, on a
// kernel with cgroup.kill (5.14+), with a cgroup v2 hierarchy mounted (pure v2 or the "unified"
// part of a hybrid one; no controller is needed). Everything a service starts stays in its cgroup
// whatever it does with sessions and process groups (PostgreSQL puts every backend in a session of
// its own), so "stop everything and wait until it is empty" is exact: cgroup.kill, then
// cgroup.events saying `populated 0`. Without one, process_group.hpp walks the process tree.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace firedrill {

/// <cgroup v2 mount>/firedrill, created when missing; nullopt when this process cannot use cgroups
/// (not root, no cgroup v2 hierarchy, no cgroup.kill). Decided once per process.
std::optional<std::filesystem::path> service_cgroup_root();

/// <root>/<run_id>/<service>.
std::filesystem::path service_cgroup_path(const std::filesystem::path& root, const std::string& run_id,
                                          const std::string& service);

/// True when `path` is a cgroup firedrill made: exactly two components below service_cgroup_root(),
/// neither "." nor "..". Paths read back from pid files and journals are checked with it before
/// anything is written into them.
bool is_service_cgroup(const std::filesystem::path& path);

/// Creates the cgroup (and its run's parent); throws std::runtime_error with the reason.
void create_service_cgroup(const std::filesystem::path& path);

/// Moves `pid` (and so everything it will start) into the cgroup; throws on failure.
void move_into_service_cgroup(const std::filesystem::path& path, int pid);

/// The live processes in the cgroup (an exited one is not listed, though it may not be reaped yet).
std::vector<int> service_cgroup_processes(const std::filesystem::path& path);

/// True while some process in the cgroup has not exited; false for a missing cgroup.
bool service_cgroup_populated(const std::filesystem::path& path);

/// Kills every process in the cgroup at once and waits up to `timeout` until none is left.
/// True when the cgroup is empty (or gone).
bool kill_service_cgroup(const std::filesystem::path& path, std::chrono::milliseconds timeout);

/// Freezes (or thaws) every process in the cgroup and waits up to `timeout` until the kernel says
/// it is done. False when the cgroup is missing or did not settle in time.
bool freeze_service_cgroup(const std::filesystem::path& path, bool frozen, std::chrono::milliseconds timeout);

/// Removes the emptied cgroup, then its run's directory when that is empty too. False with the
/// reason in `error` when it stayed.
bool remove_service_cgroup(const std::filesystem::path& path, std::string& error);

}  // namespace firedrill
