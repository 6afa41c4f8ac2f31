#include "reports/artifacts.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/hashing.hpp"

namespace firedrill {

nlohmann::json artifact_digests(const std::filesystem::path& run_dir, const std::vector<std::string>& names) {
  std::vector<std::string> paths;
  for (const auto& name : names)
    if (std::filesystem::exists(run_dir / name)) paths.push_back(name);
  std::vector<std::string> logs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(run_dir / "logs", error))
    if (entry.is_regular_file()) logs.push_back("logs/" + entry.path().filename().string());
  std::sort(logs.begin(), logs.end());
  paths.insert(paths.end(), logs.begin(), logs.end());
  nlohmann::json digests = nlohmann::json::array();
  for (const auto& path : paths) digests.push_back({{"path", path}, {"sha256", sha256_file(run_dir / path)}});
  return digests;
}

}  // namespace firedrill
