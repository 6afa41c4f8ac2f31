#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hashing.hpp"

namespace firedrill {

/// [{path, sha256}] for the named files of the run directory that exist, then every file under
/// logs/, in a stable order.
nlohmann::json artifact_digests(const std::filesystem::path& run_dir, const std::vector<std::string>& names);

}  // namespace firedrill
