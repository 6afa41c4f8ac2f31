#include "harness/services/connection_string.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <fmt/format.h>

namespace firedrill {
namespace {

bool plain_conninfo_character(unsigned char c) {
  return std::isalnum(c) != 0 || c == '.' || c == '_' || c == ',' || c == '-';
}

std::string percent_decoded(std::string_view text) {
  std::string decoded;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() + 0 && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      decoded += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      decoded += text[i];
    }
  }
  return decoded;
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

std::optional<std::string> postgres_url_field(const std::string& url, std::string_view field) {
  constexpr std::string_view scheme = "postgresql://";
  if (!url.starts_with(scheme)) throw std::invalid_argument("not a postgresql:// URL");
  const std::string_view rest = std::string_view(url).substr(scheme.size());
  const std::size_t at = rest.find('@'), slash = rest.find('/', at == std::string_view::npos ? 0 : at);
  if (at == std::string_view::npos || slash == std::string_view::npos) throw std::invalid_argument("a URL without user or database");
  const std::string_view userinfo = rest.substr(0, at), hosts = rest.substr(at + 1, slash - at - 1);
  const std::size_t question = rest.find('?', slash);
  const std::string_view database = rest.substr(slash + 1, question == std::string_view::npos ? std::string_view::npos
                                                                                               : question - slash - 1);
  const std::string_view query = question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  const std::size_t colon = userinfo.find(':');
  const std::string user = percent_decoded(userinfo.substr(0, colon));
  const std::string password = colon == std::string_view::npos ? std::string() : percent_decoded(userinfo.substr(colon + 1));
  if (field == "user") return user;
  if (field == "password") return password;
  if (field == "database") return percent_decoded(database);
  if (field == "postgres_url") return "postgres://" + std::string(rest);
  if (field != "conninfo") return std::nullopt;
  std::string host_list, port_list;
  for (std::size_t from = 0; from <= hosts.size();) {
    const std::size_t comma = std::min(hosts.find(',', from), hosts.size());
    const std::string_view endpoint = hosts.substr(from, comma - from);
    const std::size_t port_at = endpoint.rfind(':');
    host_list += (host_list.empty() ? "" : ",") + std::string(endpoint.substr(0, port_at));
    port_list += (port_list.empty() ? "" : ",") +
                 std::string(port_at == std::string_view::npos ? "5432" : endpoint.substr(port_at + 1));
    from = comma + 1;
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {"host", host_list}, {"port", port_list}, {"user", user}, {"password", password}, {"dbname", percent_decoded(database)}};
  for (std::size_t from = 0; from < query.size();) {
    const std::size_t amp = std::min(query.find('&', from), query.size());
    const std::string_view setting = query.substr(from, amp - from);
    const std::size_t equals = setting.find('=');
    if (equals != std::string_view::npos)
      fields.emplace_back(percent_decoded(setting.substr(0, equals)), percent_decoded(setting.substr(equals + 1)));
    from = amp + 1;
  }
  return conninfo(fields);
}

}  // namespace firedrill
