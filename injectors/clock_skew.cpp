#include "injectors/clock_skew.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "core/duration.hpp"

namespace firedrill {
namespace {

/// Where firedrill's images (and ci/setup, on this machine, for the process runtime) keep the
/// library that shifts a process's wall clock (fixtures/clock).
constexpr const char* clock_library = "/usr/local/lib/firedrill/firedrill-clock.so";
/// How often a running process rereads the offset file, in seconds (fixtures/clock); a fault
/// returns only once that long has passed, so every process of the target has its new clock.
constexpr int reread_seconds = 1;
/// How far the offset a new process in the target shows may be from the one asked for.
constexpr double shown_tolerance_seconds = 0.5;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Writes `words` to the target's offset file from outside (FileAccess: as root, readable by
/// the target's user), through a file of this machine that has no name (O_TMPFILE, reached as
/// /proc/self/fd/N): a harness killed midway leaves nothing in /tmp.
void write_offset(Runtime& runtime, const std::string& service, const std::string& words) {
  const std::string directory = std::filesystem::temp_directory_path().string();
  const int descriptor = ::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (descriptor < 0)
    throw EnvironmentError(fmt::format("cannot create a file for the clock of '{}': {}", service, std::strerror(errno)));
  const std::string line = words + "\n";
  const bool written = ::write(descriptor, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  try {
    if (!written) throw EnvironmentError(fmt::format("cannot write the clock of '{}': {}", service, std::strerror(errno)));
    file_access(runtime).copy_to(service, fmt::format("/proc/self/fd/{}", descriptor), clock_skew::offset_file);
  } catch (...) {
    ::close(descriptor);
    throw;
  }
  ::close(descriptor);
}

/// The offset of the target's wall clock from this machine's, as a new process in the target
/// reads it (seconds): its `date` against the middle of the exec's round trip.
std::optional<double> shown_offset(Runtime& runtime, const std::string& service) {
  const double before = now_seconds();
  const ExecResult result = runtime.exec(service, {"date", "+%s.%N"}, fault_exec_timeout);
  const double after = now_seconds();
  if (result.exit_code != 0) return std::nullopt;
  char* end = nullptr;
  const double shown = std::strtod(result.output.c_str(), &end);
  if (end == result.output.c_str()) return std::nullopt;
  return shown - (before + after) / 2;
}

/// Waits out the processes' reread interval, then until a new process shows `wanted` seconds;
/// the offset it showed last (nullopt when it never read one).
std::optional<double> await_offset(Runtime& runtime, const std::string& service, double wanted) {
  std::this_thread::sleep_for(std::chrono::seconds(reread_seconds));
  std::optional<double> shown;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    shown = shown_offset(runtime, service);
    if (shown && std::abs(*shown - wanted) <= shown_tolerance_seconds) return shown;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  return shown;
}

}  // namespace

namespace clock_skew {

std::int64_t parse_offset(const std::string& text) {
  std::string magnitude = text;
  bool behind = false;
  if (!magnitude.empty() && (magnitude.front() == '+' || magnitude.front() == '-')) {
    behind = magnitude.front() == '-';
    magnitude.erase(0, 1);
  }
  Duration parsed;
  try {
    parsed = parse_duration(magnitude);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(fmt::format("'{}' is not an offset (like +90s, -5m or 1h30m)", text));
  }
  if (parsed.count() == 0) throw std::invalid_argument(fmt::format("an offset of '{}' skews nothing", text));
  return behind ? -parsed.count() : parsed.count();
}

std::string offset_words(std::int64_t offset_micros) {
  const double seconds = static_cast<double>(offset_micros) / 1e6;
  return fmt::format("{}{}", seconds < 0 ? "-" : "+", fmt::format("{:.6f}", std::abs(seconds)));
}

void revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  const std::string service = inverse.at("service").get<std::string>();
  // A service that is gone took its clock with it; one started again starts true.
  if (!runtime.is_running(service)) return;
  write_offset(runtime, service, "+0");
}

}  // namespace clock_skew

VerbSpec ClockSkewInjector::spec() {
  return {"clock-skew",
          "Run the target's wall clock `offset` ahead (+90s) or behind (-5m) this machine's, for its processes only "
          "(a preloaded library); reverting sets it true again.",
          true,
          {{"offset", ParamType::string, true, "how far the target's clock is off: +90s (ahead), -5m (behind)"}},
          check_params,
          {},
          {},
          [](const StepSpec& step, ServiceSpec& service) {
            if (service.name != step.target) return;
            // Preloaded from the start with no offset file: the clock is true until the fault.
            std::string& preload = service.env["LD_PRELOAD"];
            if (preload.find(clock_library) == std::string::npos)
              preload = preload.empty() ? clock_library : preload + ":" + clock_library;
            service.env["FIREDRILL_CLOCK_FILE"] = clock_skew::offset_file;
          }};
}

void ClockSkewInjector::check_params(const StepSpec& step) {
  try {
    clock_skew::parse_offset(step.param_text("offset"));
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(fmt::format("step '{}': clock-skew 'offset': {}", step.name, error.what()));
  }
}

std::unique_ptr<ActiveFault> ClockSkewInjector::inject(FaultContext& context, const StepSpec& step) {
  check_params(step);
  Runtime& runtime = context.runtime;
  const std::int64_t offset = clock_skew::parse_offset(step.param_text("offset"));
  const double wanted = static_cast<double>(offset) / 1e6;
  const nlohmann::json inverse = {{"type", "clock-skew"}, {"service", step.target}};
  const std::string journal_id = context.journal_inverse(inverse);
  std::optional<double> shown;
  try {
    write_offset(runtime, step.target, clock_skew::offset_words(offset));
    shown = await_offset(runtime, step.target, wanted);
    if (!shown || std::abs(*shown - wanted) > shown_tolerance_seconds)
      throw EnvironmentError(fmt::format(
          "the clock of '{}' does not show the offset {} (a new process in it shows {}): is {} in its image?",
          step.target, step.param_text("offset"), shown ? fmt::format("{:+.3f} s", *shown) : std::string("no time"),
          clock_library));
  } catch (...) {
    try {
      clock_skew::revert_inverse(runtime, inverse);
      context.mark_reverted(journal_id);
    } catch (const std::exception&) {
      // The inverse stays journalled: cleanup retries it, and removing the service undoes it.
    }
    throw;
  }
  nlohmann::json described = {{"offset", step.param_text("offset")},
                              {"offset_seconds", wanted},
                              {"shown_offset_seconds", std::round(*shown * 1000) / 1000}};
  return std::make_unique<JournalledFault>(
      context, journal_id,
      [&runtime, inverse] {
        clock_skew::revert_inverse(runtime, inverse);
        if (runtime.is_running(inverse.at("service").get<std::string>()))
          await_offset(runtime, inverse.at("service").get<std::string>(), 0);
      },
      std::move(described));
}

void ClockSkewInjector::revert_inverse(Runtime& runtime, const nlohmann::json& inverse) {
  clock_skew::revert_inverse(runtime, inverse);
}

}  // namespace firedrill
