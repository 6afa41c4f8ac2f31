#pragma once
// Typed reads of one field of a JSON object that is untrusted or was written by an older version:
// a missing key, a value of another type or an object that is not one reads as absent.
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace firedrill::json_fields {

/// The value under `key`, or null.
const nlohmann::json& field(const nlohmann::json& object, const char* key);
/// The string under `key`, or "".
std::string text(const nlohmann::json& object, const char* key);
std::optional<std::string> optional_text(const nlohmann::json& object, const char* key);
/// The number under `key`, or 0.
double number(const nlohmann::json& object, const char* key);
std::optional<double> optional_number(const nlohmann::json& object, const char* key);
/// The number under `key` as an integer (a fraction is dropped), or 0.
std::int64_t integer(const nlohmann::json& object, const char* key);
std::optional<std::int64_t> optional_integer(const nlohmann::json& object, const char* key);
/// The boolean under `key`, or `otherwise`.
bool flag(const nlohmann::json& object, const char* key, bool otherwise);

}  // namespace firedrill::json_fields
