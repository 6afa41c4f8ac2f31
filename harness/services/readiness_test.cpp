#include <chrono>

#include <gtest/gtest.h>

#include "harness/runtime/fake_runtime.hpp"
#include "harness/services/container.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

ServiceSpec any_image(const std::string& name) {
  ServiceSpec spec;
  spec.name = name;
  spec.kind = "container";
  spec.image = "example/tracker:1";  // no port, no health path: running is ready
  return spec;
}

// Nothing restarts a service that exited while starting: its own last words are the reason, not
// "never became ready" after the whole start_timeout.
TEST(ServiceReadiness, AServiceThatExitedWhileStartingFailsSoonWithItsLastLogLines) {
  FakeRuntime runtime;
  runtime.log_of = [](const std::string&) {
    return std::string("=> Booting WEBrick\nPermission denied @ dir_s_mkdir - /usr/share/redmine/tmp (Errno::EACCES)\n");
  };
  const ContainerService service(any_image("tracker"));  // never started: not running
  const auto began = std::chrono::steady_clock::now();
  try {
    service.wait_ready(runtime, runtime.inspect("tracker"), 120s);
    FAIL() << "a service that is not running was ready";
  } catch (const EnvironmentError& error) {
    const std::string what = error.what();
    EXPECT_NE(what.find("service 'tracker' (container) exited before it became ready"), std::string::npos) << what;
    EXPECT_NE(what.find("Permission denied @ dir_s_mkdir"), std::string::npos) << what;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - began, 60s) << "it waited for the timeout";
}

TEST(ServiceReadiness, ARunningServiceWithNothingToAskIsReadyAtOnce) {
  FakeRuntime runtime;
  const ServiceSpec spec = any_image("worker");
  ContainerSpec container;
  container.service = "worker";
  runtime.start(container);
  const ContainerService service(spec);
  EXPECT_NO_THROW(service.wait_ready(runtime, runtime.inspect("worker"), 5s));
}

}  // namespace
}  // namespace firedrill
