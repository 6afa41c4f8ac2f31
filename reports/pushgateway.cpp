#include "reports/pushgateway.hpp"

#include <cctype>
#include <memory>
#include <stdexcept>

#include <curl/curl.h>
#include <fmt/format.h>

namespace firedrill {

std::string pushgateway_group_url(const std::string& gateway, const std::string& scenario) {
  std::string base = gateway;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string encoded;
  for (unsigned char c : scenario) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      encoded += static_cast<char>(c);
    else
      encoded += fmt::format("%{:02X}", c);
  }
  return fmt::format("{}/metrics/job/firedrill/scenario/{}", base, encoded);
}

namespace {

/// `url` with the password of its userinfo masked, for messages (a gateway behind basic auth is
/// given as http://user:password@host).
std::string without_password(const std::string& url) {
  const auto authority = url.find("://");
  if (authority == std::string::npos) return url;
  const auto end = url.find_first_of("/?#", authority + 3);
  const auto at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < authority + 3) return url;
  const auto colon = url.find(':', authority + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "****" + url.substr(at);
}

}  // namespace

void push_metrics(const std::string& gateway, const std::string& scenario, const std::string& metrics) {
  std::string url = pushgateway_group_url(gateway, scenario);
  const std::string shown = without_password(url);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::runtime_error("pushgateway: cannot initialise libcurl");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Content-Type: text/plain; version=0.0.4; charset=utf-8"), curl_slist_free_all);
  std::string answer;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  // A gateway is HTTP: no other scheme libcurl knows (file, ftp, gopher, …) is ever followed.
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, "PUT");
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, metrics.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(metrics.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, +[](char* data, size_t size, size_t count, void* sink) {
    static_cast<std::string*>(sink)->append(data, size * count);
    return size * count;
  });
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer);
  CURLcode result = curl_easy_perform(curl.get());
  if (result != CURLE_OK)
    throw std::runtime_error(fmt::format("pushgateway: PUT {} failed: {}", shown, error[0] ? error : curl_easy_strerror(result)));
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299)
    throw std::runtime_error(fmt::format("pushgateway: PUT {} answered HTTP {}: {}", shown, status, answer.substr(0, 200)));
}

}  // namespace firedrill
