#include "checks/json_fields.hpp"

namespace firedrill::json_fields {

using json = nlohmann::json;

const json& field(const json& object, const char* key) {
  static const json null;
  if (!object.is_object()) return null;
  auto found = object.find(key);
  return found == object.end() ? null : *found;
}

std::string text(const json& object, const char* key) {
  const json& value = field(object, key);
  return value.is_string() ? value.get<std::string>() : std::string();
}

std::optional<std::string> optional_text(const json& object, const char* key) {
  const json& value = field(object, key);
  if (!value.is_string()) return std::nullopt;
  return value.get<std::string>();
}

std::optional<double> optional_number(const json& object, const char* key) {
  const json& value = field(object, key);
  if (!value.is_number()) return std::nullopt;
  return value.get<double>();
}

double number(const json& object, const char* key) { return optional_number(object, key).value_or(0.0); }

std::optional<std::int64_t> optional_integer(const json& object, const char* key) {
  const json& value = field(object, key);
  if (!value.is_number()) return std::nullopt;
  return value.is_number_float() ? static_cast<std::int64_t>(value.get<double>()) : value.get<std::int64_t>();
}

std::int64_t integer(const json& object, const char* key) { return optional_integer(object, key).value_or(0); }

bool flag(const json& object, const char* key, bool otherwise) {
  const json& value = field(object, key);
  return value.is_boolean() ? value.get<bool>() : otherwise;
}

}  // namespace firedrill::json_fields
