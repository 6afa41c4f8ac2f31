#pragma once
// Freezing a container's processes through its cgroup directly: immediate, where the engine's
// own pause goes through runc and lands 10-30 ms after the request. Open only to a process on the
// same host and PID namespace with write access (root); callers fall back to the engine.
#include <chrono>
#include <filesystem>
#include <optional>

namespace firedrill {

/// The freezer control of a process's cgroup (cgroup v1 `freezer.state`, v2 `cgroup.freeze`),
/// when this process can write it.
std::optional<std::filesystem::path> freezer_control_of(int pid);

/// Freezes the cgroup and waits until every task is frozen; false when that took longer than
/// `timeout` (the cgroup may be partly frozen: thaw it).
bool freeze_cgroup(const std::filesystem::path& control, std::chrono::milliseconds timeout);

/// Thaws the cgroup; immediate and idempotent.
void thaw_cgroup(const std::filesystem::path& control);

}  // namespace firedrill
