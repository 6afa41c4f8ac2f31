#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace firedrill {

/// The host directory a step's `repository:` names: <run>/backups when it is unset, a relative
/// path inside the run directory, an absolute path as it is (once repository_refusal allowed it).
std::filesystem::path repository_directory(const std::string& configured, const std::filesystem::path& run_directory);

/// Why `configured` may not be a backup repository, "" when it may. The repository is created
/// as root and mounted read-write into containers, so a scenario may only name a directory
/// inside its run directory (a relative path without "..") or under one of `roots`, the
/// directories the command line granted with --repository-root.
std::string repository_refusal(const std::string& configured, const std::vector<std::filesystem::path>& roots);

}  // namespace firedrill
