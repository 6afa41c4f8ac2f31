#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace firedrill {

/// Lowercase hex SHA-256 of a file's bytes. Throws std::runtime_error naming the file.
std::string sha256_file(const std::filesystem::path& file);
/// Lowercase hex SHA-256 of bytes.
std::string sha256_hex(const std::string& bytes);

/// [{path, sha256}] for the named files of the run directory that exist, then every file under
/// logs/, in a stable order.
nlohmann::json artifact_digests(const std::filesystem::path& run_dir, const std::vector<std::string>& names);

}  // namespace firedrill
