#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "harness/runtime/docker/engine_api.hpp"

namespace firedrill::docker {
namespace {

/// An "engine" on a Unix socket that answers one request with `size` bytes of body (declared in
/// Content-Length) and stops sending when the client goes away.
class OversizedEngine {
 public:
  explicit OversizedEngine(std::size_t size)
      : path_(std::filesystem::temp_directory_path() / ("firedrill-engine-" + std::to_string(::getpid()) + ".sock")) {
    std::filesystem::remove(path_);
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener_, 1) != 0)
      throw std::runtime_error("cannot listen on " + path_.string());
    server_ = std::thread([this, size] {
      const int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t got = ::read(client, buffer, sizeof buffer);
        if (got <= 0) break;
        request.append(buffer, static_cast<std::size_t>(got));
      }
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
      bool open = ::send(client, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size());
      const std::string chunk(1 << 20, 'x');
      for (std::size_t sent = 0; open && sent < size; sent += chunk.size())
        open = ::send(client, chunk.data(), std::min(chunk.size(), size - sent), MSG_NOSIGNAL) > 0;
      ::close(client);
    });
  }
  ~OversizedEngine() {
    ::shutdown(listener_, SHUT_RDWR);
    server_.join();
    ::close(listener_);
    std::filesystem::remove(path_);
  }
  std::string address() const { return "unix://" + path_.string(); }

 private:
  std::filesystem::path path_;
  int listener_ = -1;
  std::thread server_;
};

// Security review 2, M12: bodies were read whole, so an engine (or a container's log or exec
// output) could grow firedrill's memory without bound.
TEST(EngineApi, RefusesAnAnswerLargerThanItKeeps) {
  {
    OversizedEngine engine(max_response_bytes + 1);
    EngineApi api(engine.address());
    try {
      api.request("GET", "/containers/x/logs");
      FAIL() << "an answer over the bound was kept";
    } catch (const EngineError& error) {
      EXPECT_EQ(error.status(), 0);
      EXPECT_EQ(std::string(error.what()),
                "the engine's answer to GET /containers/x/logs is larger than 64 MiB, more than firedrill keeps");
    }
  }
  OversizedEngine engine(1000);
  EXPECT_EQ(EngineApi(engine.address()).request("GET", "/version").body, std::string(1000, 'x'));
}

std::string frame(char stream, const std::string& payload) {
  std::string header(8, '\0');
  header[0] = stream;
  const auto size = static_cast<uint32_t>(payload.size());
  header[4] = static_cast<char>(size >> 24);
  header[5] = static_cast<char>((size >> 16) & 0xFF);
  header[6] = static_cast<char>((size >> 8) & 0xFF);
  header[7] = static_cast<char>(size & 0xFF);
  return header + payload;
}

TEST(DemuxStream, JoinsStdoutAndStderrFramesInOrder) {
  const std::string raw = frame(1, "hello ") + frame(2, "oops\n") + frame(1, "world\n");
  EXPECT_EQ(demux_stream(raw), "hello oops\nworld\n");
}

TEST(DemuxStream, HandlesFramesLargerThan255Bytes) {
  const std::string big(70000, 'x');
  EXPECT_EQ(demux_stream(frame(1, big) + frame(2, "!")), big + "!");
}

TEST(DemuxStream, KeepsWhatArrivedOfATruncatedFrame) {
  std::string raw = frame(1, "complete ") + frame(1, "partial-frame");
  raw.resize(raw.size() - 6);
  EXPECT_EQ(demux_stream(raw), "complete partial");
}

TEST(DemuxStream, PassesTtyOutputThrough) {
  EXPECT_EQ(demux_stream("plain tty output\n"), "plain tty output\n");
  EXPECT_EQ(demux_stream(""), "");
}

TEST(EngineApi, RefusesATcpHostOffLoopback) {
  try {
    EngineApi api("tcp://docker.example:2375");
    FAIL() << "a non-loopback engine was accepted";
  } catch (const EnvironmentError& error) {
    EXPECT_NE(std::string(error.what()).find("tcp://docker.example:2375"), std::string::npos) << error.what();
  }
  EXPECT_NO_THROW(EngineApi("tcp://127.0.0.1:2375"));
  EXPECT_NO_THROW(EngineApi("tcp://localhost:2375"));
  EXPECT_THROW(EngineApi("ssh://user@host"), EnvironmentError);
}

TEST(EngineApi, UnreachableSocketNamesTheAddressAndTheRemedy) {
  EngineApi api("unix:///nonexistent/firedrill-test.sock");
  EXPECT_FALSE(api.ping());
  try {
    api.get("/version");
    FAIL() << "no error for a missing socket";
  } catch (const EngineUnreachable& error) {
    const std::string message = error.what();
    EXPECT_TRUE(message.starts_with("cannot reach the Docker engine at unix:///nonexistent/firedrill-test.sock: "))
        << message;
    EXPECT_TRUE(message.ends_with(" (is it running? ci/setup starts one)")) << message;
  }
}

// Security review 2, L5: an image name went into the Engine API path as it was, so `?` or `#`
// in it cut the path and added a query.
TEST(ImagePath, KeepsTheReferencesSeparatorsAndEncodesEverythingElse) {
  EXPECT_EQ(image_path("registry.example:5000/team/app:1.2"), "registry.example:5000/team/app:1.2");
  EXPECT_EQ(image_path("app@sha256:0a"), "app@sha256:0a");
  EXPECT_EQ(image_path("x/json?force=1#y z%"), "x/json%3Fforce%3D1%23y%20z%25");
}

TEST(LabelFilter, EncodesTheEngineFilterJson) {
  EXPECT_EQ(label_filter("io.firedrill.run=r1"),
            "%7B%22label%22%3A%5B%22io.firedrill.run%3Dr1%22%5D%7D");
}

}  // namespace
}  // namespace firedrill::docker
