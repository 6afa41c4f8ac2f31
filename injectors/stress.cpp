#include "injectors/stress.hpp"

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "core/byte_size.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

constexpr auto longest_stress = std::chrono::minutes(10);
constexpr std::uint64_t smallest_memory = std::uint64_t{1} << 20;
constexpr std::uint64_t largest_memory = std::uint64_t{16} << 30;

/// The command line of a worker begins with python3 and ends with its marker; the shells that
/// started it carry the marker inside their own script and must not match.
std::string worker_pattern(const std::string& marker) { return fmt::format("^python3 -c .* {}$", marker); }

void check_duration(const StepSpec& step) {
  if (!step.duration)
    throw std::invalid_argument(fmt::format("step '{}': {} needs a 'duration' (at most 10m)", step.name, step.what));
  if (*step.duration > longest_stress || *step.duration <= Duration{0})
    throw std::invalid_argument(fmt::format("step '{}': {} lasts at most 10m", step.name, step.what));
}

int workers_of(const StepSpec& step) {
  if (!step.params.count("workers")) return 2;
  const std::optional<double> configured = step.param_number("workers");
  if (!configured || *configured < 1 || *configured > 64 || *configured != static_cast<int>(*configured))
    throw std::invalid_argument(fmt::format("step '{}': workers must be between 1 and 64, got '{}'", step.name,
                                            step.param_text("workers")));
  return static_cast<int>(*configured);
}

std::uint64_t size_of(const StepSpec& step) {
  auto configured = step.params.find("size");
  if (configured == step.params.end())
    throw std::invalid_argument(fmt::format("step '{}': memory-stress needs a 'size' like 256MiB", step.name));
  auto bytes = parse_byte_size(configured->second.text);
  if (!bytes)
    throw std::invalid_argument(fmt::format("step '{}': invalid size '{}': expected {}", step.name,
                                            configured->second.text, byte_size_forms));
  if (*bytes < smallest_memory || *bytes > largest_memory)
    throw std::invalid_argument(
        fmt::format("step '{}': size '{}' is out of range: between 1MiB and 16GiB", step.name, configured->second.text));
  return *bytes;
}

/// Long enough that the engine's own revert at `duration` comes first; short enough that a
/// stress outliving firedrill ends soon after the drill would have.
std::chrono::seconds bound_of(const StepSpec& step) {
  return std::chrono::ceil<std::chrono::seconds>(*step.duration) + 2s;
}

/// Journals the inverse, starts the workers and returns the fault whose revert ends them.
std::unique_ptr<ActiveFault> start_stress(FaultContext& context, const StepSpec& step, const std::string& python_code,
                                          int worker_count, nlohmann::json description) {
  const std::string marker = stress::new_marker();
  const std::string journal_id =
      context.journal_inverse({{"type", "stress"}, {"service", step.target}, {"marker", marker}});
  try {
    stress::start(context.runtime, step.target, python_code, worker_count, marker, bound_of(step));
  } catch (...) {
    stress::stop(context.runtime, step.target, marker);
    context.mark_reverted(journal_id);
    throw;
  }
  description["marker"] = marker;
  nlohmann::json details = description;
  details["service"] = step.target;
  details["fault"] = step.what;
  context.events.record("stress.started", details);
  Runtime& runtime = context.runtime;
  EventLog& events = context.events;
  const std::string service = step.target;
  return std::make_unique<JournalledFault>(
      context, journal_id,
      [&runtime, &events, service, marker] {
        stress::stop(runtime, service, marker);
        events.record("stress.stopped", {{"service", service}, {"marker", marker}});
      },
      std::move(description));
}

}  // namespace

namespace stress {

std::string new_marker() {
  std::random_device entropy;
  std::uniform_int_distribution<std::uint32_t> word;
  return fmt::format("firedrill-stress-{:08x}{:08x}", word(entropy), word(entropy));
}

void start(Runtime& runtime, const std::string& service, const std::string& python_code, int worker_count,
           const std::string& marker, std::chrono::seconds bound) {
  const auto tools = runtime.exec(
      service, {"sh", "-c", "command -v timeout && command -v python3 && command -v pkill && command -v pgrep"}, 10s);
  if (tools.exit_code != 0)
    throw EnvironmentError(fmt::format(
        "cannot stress '{}': its image needs timeout, python3, pkill and pgrep; found only:\n{}", service, tools.output));

  // The subshell waits for every timeout and exits 0: it is what the container's PID 1 inherits.
  std::string workers_line;
  for (int i = 0; i < worker_count; ++i)
    workers_line += fmt::format("timeout -k 5 {} python3 -c '{}' {} & ", bound.count(), python_code, marker);
  const std::string script = fmt::format("({}wait; exit 0) >/dev/null 2>&1 </dev/null &", workers_line);
  const auto launched = runtime.exec(service, {"sh", "-c", script}, 10s);
  if (launched.exit_code != 0)
    throw EnvironmentError(fmt::format("cannot start the stress of '{}': {}", service, launched.output));

  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (workers(runtime, service, marker).size() < static_cast<std::size_t>(worker_count)) {
    if (std::chrono::steady_clock::now() >= deadline)
      throw EnvironmentError(
          fmt::format("the {} stress processes of '{}' did not start within 10 s", worker_count, service));
    std::this_thread::sleep_for(50ms);
  }
}

std::vector<Worker> workers(Runtime& runtime, const std::string& service, const std::string& marker) {
  const auto listed = runtime.exec(
      service,
      {"sh", "-c", "for p in $(pgrep -f \"$1\"); do echo \"$p $(grep VmRSS /proc/$p/status 2>/dev/null)\"; done", "sh",
       worker_pattern(marker)},
      10s);
  if (listed.exit_code != 0)
    throw EnvironmentError(fmt::format("cannot list the stress processes of '{}': {}", service, listed.output));
  std::vector<Worker> found;
  std::istringstream lines(listed.output);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    Worker worker;
    std::string label, unit;
    std::uint64_t kilobytes = 0;
    if (!(fields >> worker.pid)) continue;
    // A worker that exited between pgrep and the read has no status line; it is gone.
    if (!(fields >> label >> kilobytes >> unit)) continue;
    worker.resident_bytes = kilobytes * 1024;
    found.push_back(worker);
  }
  return found;
}

std::string memory_headroom_problem(std::uint64_t bytes, std::uint64_t available_bytes) {
  if (bytes <= available_bytes / 2) return "";
  return fmt::format("holding {} MiB is more than half of the {} MiB this machine has available; the kernel's OOM "
                     "killer would pick its victims anywhere on the machine (ask for at most {} MiB)",
                     bytes >> 20, available_bytes >> 20, available_bytes / 2 >> 20);
}

std::optional<std::uint64_t> memory_available() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  std::uint64_t kibibytes = 0;
  while (meminfo >> key >> kibibytes >> unit)
    if (key == "MemAvailable:") return kibibytes * 1024;
  return std::nullopt;
}

void stop(Runtime& runtime, const std::string& service, const std::string& marker) {
  if (!runtime.is_running(service)) return;
  const auto pattern = worker_pattern(marker);
  // Only the workers are signalled: their timeout and its subshell then exit by themselves.
  runtime.exec(service, {"pkill", "-TERM", "-f", pattern}, 10s);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!workers(runtime, service, marker).empty()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      runtime.exec(service, {"pkill", "-KILL", "-f", pattern}, 10s);
      return;
    }
    std::this_thread::sleep_for(50ms);
  }
}

}  // namespace stress

VerbSpec CpuStressInjector::spec() {
  return {"cpu-stress",
          "Busy loops inside the target's container for `duration` (at most 10m); they end by themselves even if "
          "firedrill dies.",
          true,
          {{"workers", ParamType::integer, false, "busy processes, 1 to 64; default 2"}},
          check_params};
}

void CpuStressInjector::check_params(const StepSpec& step) {
  check_duration(step);
  workers_of(step);
}

std::unique_ptr<ActiveFault> CpuStressInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  const int worker_count = workers_of(step);
  return start_stress(context, step, "while True: pass", worker_count, {{"workers", worker_count}});
}

VerbSpec MemoryStressInjector::spec() {
  return {"memory-stress",
          "Allocate and touch `size` bytes inside the target's container and hold them for `duration` (at most 10m).",
          true,
          {{"size", ParamType::string, true, "bytes held, like 256MiB (1MiB to 16GiB)"}},
          check_params};
}

void MemoryStressInjector::check_params(const StepSpec& step) {
  check_duration(step);
  size_of(step);
}

std::unique_ptr<ActiveFault> MemoryStressInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  const std::uint64_t bytes = size_of(step);
  const auto available = stress::memory_available();
  if (!available) throw EnvironmentError("cannot read MemAvailable from /proc/meminfo to bound a memory stress");
  if (const std::string problem = stress::memory_headroom_problem(bytes, *available); !problem.empty())
    throw EnvironmentError(fmt::format("memory-stress of '{}': {}", step.target, problem));
  // Repeating one byte fills (and so touches) every page at once; pause() then holds it.
  auto fault = start_stress(context, step, fmt::format("import signal; held = bytes([1]) * {}; signal.pause()", bytes),
                            1, {{"bytes", bytes}});
  const std::string marker = fault->describe().value("marker", "");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (true) {
    const auto found = stress::workers(context.runtime, step.target, marker);
    if (!found.empty() && found.front().resident_bytes >= bytes) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      fault->revert();
      throw EnvironmentError(
          fmt::format("the memory stress of '{}' did not hold {} bytes within 60 s (is memory limited?)", step.target, bytes));
    }
    std::this_thread::sleep_for(50ms);
  }
  return fault;
}

void CpuStressInjector::revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  stress::stop(runtime, inverse.value("service", ""), inverse.value("marker", ""));
}

void MemoryStressInjector::revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  CpuStressInjector::revert_inverse(runtime, inverse);
}

}  // namespace firedrill
