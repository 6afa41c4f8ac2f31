#include "harness/services/connection_string.hpp"

#include <cctype>

#include <fmt/format.h>

namespace firedrill {
namespace {

bool plain_conninfo_character(unsigned char c) {
  return std::isalnum(c) != 0 || c == '.' || c == '_' || c == ',' || c == '-';
}

}  // namespace

std::string percent_encoded(std::string_view text) {
  std::string encoded;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~')
      encoded += static_cast<char>(c);
    else
      encoded += fmt::format("%{:02X}", c);
  }
  return encoded;
}

std::string conninfo_value(std::string_view value) {
  bool plain = !value.empty();
  for (unsigned char c : value) plain = plain && plain_conninfo_character(c);
  if (plain) return std::string(value);
  std::string quoted = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "'";
}

std::string conninfo(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string text;
  for (const auto& [keyword, value] : fields) {
    if (!text.empty()) text += ' ';
    text += keyword + "=" + conninfo_value(value);
  }
  return text;
}

std::string postgres_url(const std::string& user, const std::string& password, const std::string& hosts,
                         const std::string& database, const std::string& query) {
  std::string url = fmt::format("postgresql://{}:{}@{}/{}", percent_encoded(user), percent_encoded(password), hosts,
                                percent_encoded(database));
  if (!query.empty()) url += "?" + query;
  return url;
}

}  // namespace firedrill
