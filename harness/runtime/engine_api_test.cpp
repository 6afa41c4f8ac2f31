#include <gtest/gtest.h>

#include "harness/runtime/engine_api.hpp"

namespace firedrill::docker {
namespace {

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

TEST(LabelFilter, EncodesTheEngineFilterJson) {
  EXPECT_EQ(label_filter("io.firedrill.run=r1"),
            "%7B%22label%22%3A%5B%22io.firedrill.run%3Dr1%22%5D%7D");
}

}  // namespace
}  // namespace firedrill::docker
