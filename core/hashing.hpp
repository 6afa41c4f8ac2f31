#pragma once
// SHA-256 digests as lowercase hex: of files (artifacts, manifests, scenarios) and of bytes.
#include <filesystem>
#include <string>
#include <string_view>

namespace firedrill {

/// Lowercase hex SHA-256 of a file's bytes. Throws std::runtime_error naming the file.
std::string sha256_file(const std::filesystem::path& file);
/// Lowercase hex SHA-256 of bytes.
std::string sha256_hex(std::string_view bytes);

}  // namespace firedrill
