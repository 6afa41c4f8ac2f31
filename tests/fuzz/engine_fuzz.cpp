// What the Docker engine sends back: the first byte picks the reader, the rest is the bytes.
//  - 0: a logs/exec answer for demux_stream.
//  - 1: a GET .../archive answer for tar::FirstFileReader, fed in pieces whose sizes come from
//    the second byte (as the socket delivers them).
//  - 2: a whole HTTP answer to EngineApi::get, served by a fake engine on a Unix socket.
//  - 3: a whole HTTP answer to EngineApi::stream into a FirstFileReader, as the Docker runtime
//    copies a file out of a container.
// Each answers or throws its documented errors (EngineError, EngineTimeout, EngineUnreachable,
// std::runtime_error for a malformed archive, nlohmann::json::exception for a body that is not
// JSON or holds a number beyond a double); nothing else may escape.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "harness/runtime/docker/engine_api.hpp"
#include "harness/runtime/docker/tar_archive.hpp"

namespace {

namespace fs = std::filesystem;
using namespace firedrill;

void check(bool condition) {
  if (!condition) std::abort();
}

// Reads one request (headers and a Content-Length body), answers with the bytes it was given
// and closes the connection, one connection at a time.
class FakeEngine {
 public:
  FakeEngine() {
    std::string pattern = (fs::temp_directory_path() / "firedrill-engine-fuzz-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    socket_path_ = fs::path(pattern) / "engine.sock";
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, socket_path_.c_str(), sizeof address.sun_path - 1);
    if (::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0)
      std::abort();
    std::thread([this] { serve(); }).detach();
  }

  std::string host() const { return "unix://" + socket_path_.string(); }

  void answer_with(std::string_view bytes) {
    std::lock_guard lock(mutex_);
    answer_.assign(bytes);
  }

 private:
  void serve() {
    for (;;) {
      const int connection = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (connection < 0) continue;
      read_request(connection);
      std::string answer;
      {
        std::lock_guard lock(mutex_);
        answer = answer_;
      }
      std::size_t sent = 0;
      while (sent < answer.size()) {
        const ssize_t n = ::send(connection, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      ::shutdown(connection, SHUT_WR);
      char drain[256];
      while (::recv(connection, drain, sizeof drain, 0) > 0) {
      }
      ::close(connection);
    }
  }

  static void read_request(int connection) {
    std::string request;
    char buffer[4096];
    std::size_t body_left = 0;
    for (;;) {
      const auto end = request.find("\r\n\r\n");
      if (end != std::string::npos) {
        const auto length_at = request.find("Content-Length: ");
        const std::size_t length =
            length_at != std::string::npos && length_at < end ? std::stoul(request.substr(length_at + 16)) : 0;
        const std::size_t have = request.size() - end - 4;
        body_left = length > have ? length - have : 0;
        break;
      }
      const ssize_t n = ::recv(connection, buffer, sizeof buffer, 0);
      if (n <= 0) return;
      request.append(buffer, static_cast<std::size_t>(n));
    }
    while (body_left > 0) {
      const ssize_t n = ::recv(connection, buffer, std::min(sizeof buffer, body_left), 0);
      if (n <= 0) return;
      body_left -= static_cast<std::size_t>(n);
    }
  }

  fs::path socket_path_;
  int listener_ = -1;
  std::mutex mutex_;
  std::string answer_;
};

FakeEngine& engine() {
  static FakeEngine* fake = new FakeEngine;
  return *fake;
}

void demux(std::string_view bytes) {
  const std::string text = docker::demux_stream(bytes);
  check(text.size() <= bytes.size());
}

void archive(std::string_view bytes) {
  if (bytes.empty()) return;
  const std::size_t piece = static_cast<unsigned char>(bytes[0]) + 1u;
  bytes.remove_prefix(1);
  std::uint64_t received = 0;
  tar::FirstFileReader reader([&](std::string_view data) { received += data.size(); });
  try {
    for (std::size_t at = 0; at < bytes.size() && !reader.complete(); at += piece)
      reader.feed(bytes.substr(at, piece));
  } catch (const std::runtime_error&) {
    return;
  }
  check(received <= reader.file_size());
  if (reader.complete()) check(received == reader.file_size());
}

void get(std::string_view answer) {
  engine().answer_with(answer);
  const docker::EngineApi api(engine().host());
  try {
    (void)api.get("/containers/json?all=1");
  } catch (const docker::EngineError&) {
  } catch (const docker::EngineTimeout&) {
  } catch (const docker::EngineUnreachable&) {
  } catch (const nlohmann::json::exception&) {  // not JSON, or a number beyond double (out_of_range)
  }
}

void stream(std::string_view answer) {
  engine().answer_with(answer);
  const docker::EngineApi api(engine().host());
  tar::FirstFileReader reader([](std::string_view) {});
  try {
    api.stream("GET", "/containers/x/archive?path=%2Fetc%2Fhostname", "", "application/x-tar",
               [&](std::string_view piece) { reader.feed(piece); }, std::chrono::seconds(5));
  } catch (const docker::EngineError&) {
  } catch (const docker::EngineTimeout&) {
  } catch (const docker::EngineUnreachable&) {
  } catch (const std::runtime_error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0: demux(rest); break;
    case 1: archive(rest); break;
    case 2: get(rest); break;
    case 3: stream(rest); break;
  }
  return 0;
}
