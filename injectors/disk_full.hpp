#pragma once
#include <cstdint>
#include <filesystem>

#include "injectors/injector.hpp"

namespace firedrill {

/// `disk-full`: fills the filesystem holding the target's data directory (the size-limited one
/// the runtime gave it, see ContainerSpec::size_limited) until writes fail with ENOSPC, leaving
/// `leave` bytes free (default 0), by writing one file beside the data. Reverting deletes the file.
class DiskFullInjector final : public Injector {
 public:
  std::unique_ptr<ActiveFault> inject(FaultContext& context, const StepSpec& step) override;
  /// The inverse it journals, which `firedrill cleanup` reverts with revert_inverse.
  static constexpr const char* journalled_inverse = "unfill";
  static void revert_inverse(Runtime& runtime, const nlohmann::json& inverse);
  static VerbSpec spec();
  /// Throws std::invalid_argument when `leave` is not a size.
  static void check_params(const StepSpec& step);
};

namespace disk_full {

/// The name of the file that takes the space, in the filesystem's root directory.
inline constexpr const char* fill_file_name = "firedrill-disk-full";

/// Free bytes of the filesystem holding `path`, as an unprivileged writer sees them.
std::uint64_t free_bytes(const std::filesystem::path& path);

/// Writes `file` until the filesystem has no more than `leave` bytes free (to ENOSPC when leave
/// is 0); returns the bytes the file took. Throws EnvironmentError when the file cannot be made,
/// and when anything already has its name (created exclusively, never through a symlink).
std::uint64_t fill(const std::filesystem::path& file, std::uint64_t leave);

/// Deletes the fill file; safe to call when it is gone. Refuses a path not named fill_file_name.
void unfill(const std::filesystem::path& file);

}  // namespace disk_full
}  // namespace firedrill
