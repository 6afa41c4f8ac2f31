#include "harness/services/loopback_http.hpp"

#include <curl/curl.h>

#include <memory>

#include <fmt/format.h>

namespace firedrill {
namespace {

std::size_t append_loopback_body(char* data, std::size_t size, std::size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

}  // namespace

std::optional<std::pair<long, std::string>> loopback_http_request(int port, const std::string& path,
                                                                  const std::optional<std::string>& request,
                                                                  std::chrono::milliseconds timeout) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle(curl_easy_init(), curl_easy_cleanup);
  if (!handle) return std::nullopt;
  const std::string url = fmt::format("http://127.0.0.1:{}{}", port, path);
  std::string body;
  curl_easy_setopt(handle.get(), CURLOPT_URL, url.c_str());
  if (request) curl_easy_setopt(handle.get(), CURLOPT_POSTFIELDS, request->c_str());
  curl_easy_setopt(handle.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(handle.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle.get(), CURLOPT_NOPROXY, "*");
  curl_easy_setopt(handle.get(), CURLOPT_PROTOCOLS_STR, "http");
  curl_easy_setopt(handle.get(), CURLOPT_WRITEFUNCTION, append_loopback_body);
  curl_easy_setopt(handle.get(), CURLOPT_WRITEDATA, &body);
  if (curl_easy_perform(handle.get()) != CURLE_OK) return std::nullopt;
  long status = 0;
  curl_easy_getinfo(handle.get(), CURLINFO_RESPONSE_CODE, &status);
  return std::make_pair(status, body);
}

std::optional<std::string> loopback_http_get(int port, const std::string& path, std::chrono::milliseconds timeout) {
  const auto answer = loopback_http_request(port, path, std::nullopt, timeout);
  if (!answer || answer->first < 200 || answer->first >= 300) return std::nullopt;
  return answer->second;
}

std::optional<std::pair<long, std::string>> loopback_http_post(int port, const std::string& path,
                                                               const std::string& request,
                                                               std::chrono::milliseconds timeout) {
  return loopback_http_request(port, path, request, timeout);
}

}  // namespace firedrill
