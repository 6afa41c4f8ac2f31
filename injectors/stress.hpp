#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "injectors/injector.hpp"

namespace firedrill {

/// `cpu-stress`: `workers` (default 2) busy loops inside the target's container for `duration`
/// (at most 10m), each ended by the container's own `timeout` even if firedrill dies first.
class CpuStressInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  /// The inverse it journals, which `firedrill cleanup` reverts with revert_inverse.
  static constexpr const char* journalled_inverse = "stress";
  static void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);
  static VerbSpec spec();
  /// Throws std::invalid_argument for a missing or too long duration or workers out of 1..64.
  static void check_params(const StepSpec& step);
};

/// `memory-stress`: one process inside the target's container that allocates and touches `size`
/// bytes (like 256MiB) and holds them for `duration` (at most 10m), ended by `timeout` like
/// cpu-stress. Returns once the memory is resident.
class MemoryStressInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  /// The inverse it journals, which `firedrill cleanup` reverts with revert_inverse.
  static constexpr const char* journalled_inverse = "stress";
  static void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);
  static VerbSpec spec();
  /// Throws std::invalid_argument for a missing or too long duration or a size out of 1MiB..16GiB.
  static void check_params(const StepSpec& step);
};

namespace stress {

/// A tag unique to one stress fault, carried in its processes' argv: firedrill-stress-<hex>.
std::string new_marker();

/// Starts `workers` copies of `python_code` (one line) in the service's container, detached,
/// each tagged with `marker` and killed by coreutils `timeout` after `bound`. Their parents reap
/// them and exit 0, so a Postgres postmaster that inherits one never mistakes it for a crashed
/// backend. Throws EnvironmentError when the image lacks python3, timeout or pkill.
void start(Runtime& runtime, const std::string& service, const std::string& python_code, int workers,
           const std::string& marker, std::chrono::seconds bound);

/// In-container pids of the live processes tagged with `marker`, with their resident bytes.
struct Worker {
  int pid = 0;
  std::uint64_t resident_bytes = 0;
};
std::vector<Worker> workers(Runtime& runtime, const std::string& service, const std::string& marker);

/// Why holding `bytes` would starve this machine, "" when it would not. Containers get no memory
/// limit, so the kernel's OOM killer would answer a stress that exhausts the machine by killing
/// whatever it picks, the harness or the engine included: a stress may take at most half of
/// what the machine has available (`available_bytes`, MemAvailable) when it starts.
std::string memory_headroom_problem(std::uint64_t bytes, std::uint64_t available_bytes);

/// MemAvailable of /proc/meminfo in bytes; nullopt when it cannot be read.
std::optional<std::uint64_t> memory_available();

/// Ends the processes tagged with `marker` (TERM, then KILL after 5 s). Idempotent; a container
/// that is not running has nothing to end.
void stop(Runtime& runtime, const std::string& service, const std::string& marker);

}  // namespace stress
}  // namespace firedrill
