#include "harness/runtime/docker/engine_api.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <curl/curl.h>
#include <fmt/format.h>

namespace firedrill::docker {
namespace {

constexpr const char* default_host = "unix:///var/run/docker.sock";
constexpr const char* api_version = "v1.41";

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

/// A response body kept up to max_response_bytes; the transfer stops at the first byte over.
struct BoundedBody {
  std::string text;
  bool too_large = false;
};

size_t append_bounded(char* data, size_t size, size_t count, void* user) {
  auto& body = *static_cast<BoundedBody*>(user);
  if (body.text.size() + size * count > max_response_bytes) {
    body.too_large = true;
    return 0;  // aborts the transfer
  }
  body.text.append(data, size * count);
  return size * count;
}

std::string too_large_message(const std::string& method, const std::string& path) {
  return fmt::format("the engine's answer to {} {} is larger than {} MiB, more than firedrill keeps", method, path,
                     max_response_bytes >> 20);
}

struct CurlDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

/// One libcurl transfer to the engine, set up as every one is: its address, no proxy, HTTP
/// only, the connect and total timeouts, an error buffer and no `Expect: 100-continue`. Not
/// movable: libcurl keeps a pointer to the error buffer.
class EngineTransfer {
 public:
  EngineTransfer(const std::string& url, const std::string& socket_path, std::chrono::milliseconds timeout)
      : curl_(curl_easy_init()), headers_(curl_slist_append(nullptr, "Expect:")) {
    if (!curl_) throw EnvironmentError("cannot initialise libcurl");
    set(CURLOPT_URL, url.c_str());
    if (!socket_path.empty()) set(CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_NOPROXY, "*");
    set(CURLOPT_PROTOCOLS_STR, "http");
    set(CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(std::max<long long>(1, timeout.count())));
    set(CURLOPT_ERRORBUFFER, error_buffer_);
  }
  EngineTransfer(const EngineTransfer&) = delete;
  EngineTransfer& operator=(const EngineTransfer&) = delete;

  template <typename Value>
  void set(CURLoption option, Value value) {
    curl_easy_setopt(curl_.get(), option, value);
  }
  void add_header(const std::string& header) { headers_.reset(curl_slist_append(headers_.release(), header.c_str())); }
  CURL* handle() const { return curl_.get(); }

  CURLcode perform() {
    set(CURLOPT_HTTPHEADER, headers_.get());
    return curl_easy_perform(curl_.get());
  }
  long status() const {
    long status = 0;
    curl_easy_getinfo(curl_.get(), CURLINFO_RESPONSE_CODE, &status);
    return status;
  }
  /// Why the transfer failed, as libcurl says it: a timeout as EngineTimeout (with what had
  /// arrived), anything else as the engine being unreachable at `address`.
  [[noreturn]] void throw_failure(CURLcode code, const std::string& request, std::chrono::milliseconds timeout,
                                  const std::string& address, std::string partial_body = "") const {
    const std::string detail = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT)
      throw EngineTimeout(fmt::format("{} timed out after {} ms: {}", request, timeout.count(), detail),
                          std::move(partial_body));
    throw EngineUnreachable(
        fmt::format("cannot reach the Docker engine at {}: {} (is it running? ci/setup starts one)", address, detail));
  }

 private:
  std::unique_ptr<CURL, CurlDeleter> curl_;
  std::unique_ptr<curl_slist, SlistDeleter> headers_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

std::string engine_message(const std::string& body) {
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) {
    return parsed["message"].get<std::string>();
  }
  return body;
}

bool is_loopback_name(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost";
}

}  // namespace

EngineApi EngineApi::from_environment() {
  const char* host = std::getenv("DOCKER_HOST");
  return EngineApi(host != nullptr && *host != '\0' ? host : default_host);
}

EngineApi::EngineApi(std::string docker_host) : address_(std::move(docker_host)) {
  init_curl_once();
  const std::string unix_scheme = "unix://";
  const std::string tcp_scheme = "tcp://";
  if (address_.starts_with(unix_scheme)) {
    socket_path_ = address_.substr(unix_scheme.size());
    if (socket_path_.empty()) {
      throw EnvironmentError(fmt::format("DOCKER_HOST '{}' names no socket path", address_));
    }
    base_url_ = fmt::format("http://localhost/{}", api_version);
  } else if (address_.starts_with(tcp_scheme)) {
    std::string authority = address_.substr(tcp_scheme.size());
    if (auto slash = authority.find('/'); slash != std::string::npos) authority.resize(slash);
    const auto colon = authority.rfind(':');
    const std::string host = colon == std::string::npos ? authority : authority.substr(0, colon);
    if (!is_loopback_name(host)) {
      throw EnvironmentError(fmt::format(
          "DOCKER_HOST '{}' is refused: firedrill only talks to an engine on a Unix socket or on "
          "127.0.0.1/localhost",
          address_));
    }
    base_url_ = fmt::format("http://{}/{}", authority, api_version);
  } else {
    throw EnvironmentError(
        fmt::format("DOCKER_HOST '{}' is not supported (use unix:///path or tcp://127.0.0.1:PORT)",
                    address_));
  }
}

EngineResponse EngineApi::request(const std::string& method, const std::string& path,
                                  const std::optional<nlohmann::json>& body,
                                  std::chrono::milliseconds timeout) const {
  EngineTransfer transfer(base_url_ + path, socket_path_, timeout);
  std::string payload;
  BoundedBody response;
  transfer.set(CURLOPT_WRITEFUNCTION, append_bounded);
  transfer.set(CURLOPT_WRITEDATA, &response);
  if (method == "GET") {
    transfer.set(CURLOPT_HTTPGET, 1L);
  } else if (method == "POST") {
    transfer.set(CURLOPT_POST, 1L);
  } else {
    transfer.set(CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  if (body) {
    payload = body->dump();
    transfer.add_header("Content-Type: application/json");
  }
  if (method == "POST" || body) {
    transfer.set(CURLOPT_POSTFIELDS, payload.c_str());
    transfer.set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
  }

  const CURLcode code = transfer.perform();
  if (response.too_large) throw EngineError(0, too_large_message(method, path));
  std::string response_body = std::move(response.text);
  if (code != CURLE_OK) transfer.throw_failure(code, method + " " + path, timeout, address_, std::move(response_body));
  const long status = transfer.status();
  if ((status < 200 || status >= 300) && status != 304) {
    throw EngineError(status, engine_message(response_body));
  }
  return EngineResponse{status, std::move(response_body)};
}

void EngineApi::stream(const std::string& method, const std::string& path, std::string_view body,
                       const std::string& content_type, const std::function<void(std::string_view)>& sink,
                       std::chrono::milliseconds timeout) const {
  EngineTransfer transfer(base_url_ + path, socket_path_, timeout);
  struct Receiver {
    CURL* handle;
    const std::function<void(std::string_view)>* sink;
    std::string error_body;
    std::string sink_error;
  } receiver{transfer.handle(), &sink, {}, {}};
  const auto receive = +[](char* data, size_t size, size_t count, void* user) -> size_t {
    auto& state = *static_cast<Receiver*>(user);
    long status = 0;
    curl_easy_getinfo(state.handle, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status >= 300) {
      // An error answer is a message: what fits is kept, the rest dropped.
      const std::size_t room = max_response_bytes - std::min(max_response_bytes, state.error_body.size());
      state.error_body.append(data, std::min(room, size * count));
      return size * count;
    }
    try {
      (*state.sink)(std::string_view(data, size * count));
    } catch (const std::exception& error) {
      state.sink_error = error.what();
      return 0;  // aborts the transfer
    }
    return size * count;
  };
  transfer.add_header("Content-Type: " + content_type);
  transfer.set(CURLOPT_WRITEFUNCTION, receive);
  transfer.set(CURLOPT_WRITEDATA, &receiver);
  if (method == "GET") {
    transfer.set(CURLOPT_HTTPGET, 1L);
  } else {
    transfer.set(CURLOPT_CUSTOMREQUEST, method.c_str());
    transfer.set(CURLOPT_POSTFIELDS, body.data());
    transfer.set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }

  const CURLcode code = transfer.perform();
  if (!receiver.sink_error.empty()) throw std::runtime_error(receiver.sink_error);
  if (code != CURLE_OK) transfer.throw_failure(code, method + " " + path, timeout, address_);
  const long status = transfer.status();
  if (status < 200 || status >= 300) throw EngineError(status, engine_message(receiver.error_body));
}

void EngineApi::upload(const std::string& path, const std::string& content_type, std::uint64_t size,
                       const std::function<std::size_t(char* buffer, std::size_t capacity)>& read,
                       std::chrono::milliseconds timeout) const {
  EngineTransfer transfer(base_url_ + path, socket_path_, timeout);
  struct Sender {
    const std::function<std::size_t(char*, std::size_t)>* read;
    std::string error;
  } sender{&read, {}};
  const auto send = +[](char* buffer, size_t item_size, size_t count, void* user) -> size_t {
    auto& state = *static_cast<Sender*>(user);
    try {
      return (*state.read)(buffer, item_size * count);
    } catch (const std::exception& error) {
      state.error = error.what();
      return CURL_READFUNC_ABORT;
    }
  };
  BoundedBody response;
  transfer.add_header("Content-Type: " + content_type);
  transfer.set(CURLOPT_UPLOAD, 1L);
  transfer.set(CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
  transfer.set(CURLOPT_READFUNCTION, send);
  transfer.set(CURLOPT_READDATA, &sender);
  transfer.set(CURLOPT_WRITEFUNCTION, append_bounded);
  transfer.set(CURLOPT_WRITEDATA, &response);

  const CURLcode code = transfer.perform();
  if (!sender.error.empty()) throw std::runtime_error(sender.error);
  if (code != CURLE_OK && !response.too_large) transfer.throw_failure(code, "PUT " + path, timeout, address_);
  const long status = transfer.status();
  if (status < 200 || status >= 300) throw EngineError(status, engine_message(response.text));
}

nlohmann::json EngineApi::get(const std::string& path) const {
  auto response = request("GET", path);
  if (response.body.empty()) return nullptr;
  return nlohmann::json::parse(response.body);
}

nlohmann::json EngineApi::post(const std::string& path, const nlohmann::json& body,
                               std::chrono::milliseconds timeout) const {
  auto response = request("POST", path, body, timeout);
  if (response.body.empty()) return nullptr;
  return nlohmann::json::parse(response.body, nullptr, false);
}

void EngineApi::del(const std::string& path) const { request("DELETE", path); }

bool EngineApi::ping() const {
  try {
    request("GET", "/_ping", std::nullopt, std::chrono::seconds(5));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0x0F]);
    }
  }
  return out;
}

std::string image_path(std::string_view reference) {
  std::string out;
  std::size_t start = 0;
  while (true) {
    const std::size_t separator = reference.find_first_of("/:@", start);
    out += url_encode(reference.substr(start, separator == std::string_view::npos ? std::string_view::npos : separator - start));
    if (separator == std::string_view::npos) return out;
    out += reference[separator];
    start = separator + 1;
  }
}

std::string label_filter(const std::string& label) {
  const nlohmann::json filters = {{"label", nlohmann::json::array({label})}};
  return url_encode(filters.dump());
}

std::string demux_stream(std::string_view raw) {
  constexpr size_t header_size = 8;
  const auto looks_multiplexed = [&](size_t at) {
    if (raw.size() - at < header_size) return false;
    const auto stream = static_cast<unsigned char>(raw[at]);
    return stream <= 2 && raw[at + 1] == '\0' && raw[at + 2] == '\0' && raw[at + 3] == '\0';
  };
  if (raw.empty() || !looks_multiplexed(0)) return std::string(raw);

  std::string out;
  size_t at = 0;
  while (at < raw.size()) {
    if (!looks_multiplexed(at)) {
      out.append(raw.substr(at));
      break;
    }
    const auto byte = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(raw[at + i])); };
    const uint32_t size = (byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7);
    at += header_size;
    const size_t available = std::min<size_t>(size, raw.size() - at);
    out.append(raw.substr(at, available));
    at += available;
  }
  return out;
}

}  // namespace firedrill::docker
