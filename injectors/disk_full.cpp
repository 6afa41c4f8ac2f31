#include "injectors/disk_full.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "checks/history.hpp"
#include "core/byte_size.hpp"
#include "core/confined_file.hpp"

namespace firedrill {
namespace {

std::uint64_t leave_of(const StepSpec& step) {
  auto configured = step.params.find("leave");
  if (configured == step.params.end()) return 0;
  auto bytes = parse_byte_size(configured->second.text);
  if (!bytes)
    throw std::invalid_argument(fmt::format("step '{}': invalid leave '{}': expected {}", step.name,
                                            configured->second.text, byte_size_forms));
  return *bytes;
}

/// Writes `size` bytes at the end of fd; returns how many went in before the filesystem ran out.
std::uint64_t write_until_full(int fd, std::uint64_t size, const std::filesystem::path& file) {
  static const std::vector<char> zeros(1 << 20, '\0');
  std::uint64_t written = 0;
  // Big blocks first, then ever smaller, so the last partial page is taken too.
  for (std::size_t block = zeros.size(); block >= 1 && written < size; block /= 16) {
    while (written < size) {
      const auto chunk = static_cast<std::size_t>(std::min<std::uint64_t>(block, size - written));
      const ssize_t n = ::write(fd, zeros.data(), chunk);
      if (n > 0) {
        written += static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != ENOSPC)
        throw EnvironmentError(fmt::format("cannot fill {}: {}", file.string(), std::strerror(errno)));
      break;
    }
  }
  return written;
}

}  // namespace

namespace disk_full {

std::uint64_t free_bytes(const std::filesystem::path& path) {
  struct statvfs stats {};
  if (::statvfs(path.c_str(), &stats) != 0)
    throw EnvironmentError(fmt::format("cannot read the free space of {}: {}", path.string(), std::strerror(errno)));
  return static_cast<std::uint64_t>(stats.f_bavail) * stats.f_frsize;
}

std::uint64_t fill(const std::filesystem::path& file, std::uint64_t leave) {
  // The directory is the service's data root, which its owner (and so a container) can write:
  // a name already there — a symlink to a host file, a FIFO — is refused, never written through.
  int fd = -1;
  try {
    fd = open_confined({file.parent_path(), file.filename()}, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  } catch (const std::runtime_error& error) {
    throw EnvironmentError(fmt::format("cannot create the fill file: {} (something else already made that name?)",
                                       error.what()));
  }
  std::uint64_t taken = 0;
  try {
    const std::uint64_t available = free_bytes(file.parent_path());
    if (available > leave) {
      const std::uint64_t wanted = available - leave;
      // fallocate reserves the space in one call; where the filesystem refuses it, writing does.
      const off_t start = ::lseek(fd, 0, SEEK_END);
      if (::fallocate(fd, 0, start, static_cast<off_t>(wanted)) == 0) {
        taken = wanted;
        ::lseek(fd, 0, SEEK_END);
      }
      if (leave == 0) {
        // Metadata and rounding leave crumbs that would let a small write through.
        taken += write_until_full(fd, ~std::uint64_t{0}, file);
      } else if (taken == 0) {
        taken = write_until_full(fd, wanted, file);
      }
    }
    ::fsync(fd);
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return taken;
}

void unfill(const std::filesystem::path& file) {
  if (file.filename() != fill_file_name)
    throw std::invalid_argument(fmt::format("refusing to delete {}: not a {} file", file.string(), fill_file_name));
  std::error_code error;
  std::filesystem::remove(file, error);
  if (error && error != std::errc::no_such_file_or_directory)
    throw EnvironmentError(fmt::format("cannot delete {}: {}", file.string(), error.message()));
}

}  // namespace disk_full

VerbSpec DiskFullInjector::spec() {
  return {"disk-full",
          "Fill the filesystem of the target's data directory until writes fail with ENOSPC (the target gets a "
          "128MiB one unless it sets `disk:`); reverting frees it.",
          true,
          {{"leave", ParamType::string, false, "bytes left free, like 1MiB; default 0"}},
          check_params,
          {},
          {},
          [](const StepSpec& step, ServiceSpec& service) {
            // A filesystem small enough to fill, unless the scenario sized it with `disk:`.
            if (service.name == step.target && !service.disk) service.disk = std::uint64_t{128} << 20;
          }};
}

void DiskFullInjector::check_params(const StepSpec& step) { leave_of(step); }

std::unique_ptr<ActiveFault> DiskFullInjector::inject(FaultContext& context, const StepSpec& step) {
  const std::uint64_t leave = leave_of(step);
  const std::filesystem::path directory = storage(context.runtime).size_limited_mount(step.target);
  const std::filesystem::path file = directory / disk_full::fill_file_name;
  const std::uint64_t free_before = disk_full::free_bytes(directory);
  const std::string journal_id =
      context.journal_inverse({{"type", "unfill"}, {"service", step.target}, {"file", file.string()}});
  std::uint64_t written = 0;
  try {
    written = disk_full::fill(file, leave);
  } catch (...) {
    disk_full::unfill(file);
    context.mark_reverted(journal_id);
    throw;
  }
  const std::uint64_t free_after = disk_full::free_bytes(directory);
  nlohmann::json description = {{"filesystem", directory.string()}, {"leave_bytes", leave}, {"bytes_written", written},
                                {"free_bytes_before", free_before}, {"free_bytes_after", free_after}};
  nlohmann::json details = description;
  details["service"] = step.target;
  context.events.record("disk.filled", details);
  auto& events = context.events;
  const std::string service = step.target;
  return std::make_unique<JournalledFault>(
      context, journal_id,
      [file, directory, service, &events] {
        disk_full::unfill(file);
        nlohmann::json freed = {{"service", service}};
        std::error_code missing;
        if (std::filesystem::exists(directory, missing)) freed["free_bytes"] = disk_full::free_bytes(directory);
        events.record("disk.freed", freed);
      },
      std::move(description));
}

void DiskFullInjector::revert_inverse(Runtime&, const nlohmann::json& inverse) {
  disk_full::unfill(inverse.value("file", ""));
}

}  // namespace firedrill
