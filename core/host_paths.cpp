#include "core/host_paths.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace firedrill {
namespace {

/// True when `path` is `root` or below it. Both are resolved through the symlinks that exist
/// now, so a link inside a granted root cannot lead out of it.
bool lies_under(const std::filesystem::path& path, const std::filesystem::path& root) {
  std::error_code error;
  const auto resolved = std::filesystem::weakly_canonical(path, error);
  if (error) return false;
  const auto resolved_root = std::filesystem::weakly_canonical(root, error);
  if (error) return false;
  const auto relative = resolved.lexically_relative(resolved_root);
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

std::filesystem::path repository_directory(const std::string& configured, const std::filesystem::path& run_directory) {
  if (configured.empty()) return run_directory / "backups";
  const std::filesystem::path path(configured);
  return (path.is_absolute() ? path : run_directory / path).lexically_normal();
}

std::string repository_refusal(const std::string& configured, const std::vector<std::filesystem::path>& roots) {
  if (configured.empty()) return "";
  const std::filesystem::path path(configured);
  if (path.is_relative()) {
    const bool climbs = std::any_of(path.begin(), path.end(), [](const std::filesystem::path& part) { return part == ".."; });
    if (!climbs) return "";
    return fmt::format("repository '{}' climbs out of the run directory: a relative repository lies inside the run "
                       "directory, another directory must be granted with --repository-root",
                       configured);
  }
  for (const auto& root : roots)
    if (lies_under(path, root)) return "";
  if (roots.empty())
    return fmt::format("repository '{}' is outside the run directory: grant its directory with --repository-root DIR "
                       "or use a path relative to the run directory",
                       configured);
  std::string granted;
  for (const auto& root : roots) granted += (granted.empty() ? "" : ", ") + root.string();
  return fmt::format("repository '{}' lies under no --repository-root ({})", configured, granted);
}

}  // namespace firedrill
