#include "core/utf8.hpp"

#include <cstddef>

namespace firedrill {
namespace {

/// The length of the well-formed UTF-8 sequence at text[at], or 0 when there is none.
std::size_t sequence_length(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte (RFC 3629, section 4)
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;
    if (lead == 0xED) high = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;
    if (lead == 0xF4) high = 0x8F;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  if (byte(at + 1) < low || byte(at + 1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i)
    if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) return 0;
  return length;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = sequence_length(text, at);
    if (length == 0) return false;
    at += length;
  }
  return true;
}

std::string replace_invalid_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string replaced;
  replaced.reserve(text.size() + 8);
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t length = sequence_length(text, at);
    if (length == 0) {
      replaced += "\xEF\xBF\xBD";
      ++at;
      continue;
    }
    replaced.append(text.substr(at, length));
    at += length;
  }
  return replaced;
}

nlohmann::json replace_invalid_utf8_json(nlohmann::json value) {
  if (value.is_string()) return replace_invalid_utf8(value.get_ref<const std::string&>());
  if (value.is_array()) {
    for (auto& element : value) element = replace_invalid_utf8_json(std::move(element));
    return value;
  }
  if (!value.is_object()) return value;
  nlohmann::json cleaned = nlohmann::json::object();
  for (auto& [key, element] : value.items()) cleaned[replace_invalid_utf8(key)] = replace_invalid_utf8_json(std::move(element));
  return cleaned;
}

bool has_control_character(std::string_view text) {
  for (const char c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') return true;
  return false;
}

}  // namespace firedrill
