#include "harness/runtime/cleanup.hpp"

#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

/// Points DOCKER_HOST somewhere for one test and puts the old value back.
class ScopedDockerHost {
 public:
  explicit ScopedDockerHost(const std::string& value) {
    if (const char* old = std::getenv("DOCKER_HOST")) previous_ = old;
    setenv("DOCKER_HOST", value.c_str(), 1);
  }
  ScopedDockerHost(const ScopedDockerHost&) = delete;
  ScopedDockerHost& operator=(const ScopedDockerHost&) = delete;
  ~ScopedDockerHost() {
    if (previous_) {
      setenv("DOCKER_HOST", previous_->c_str(), 1);
    } else {
      unsetenv("DOCKER_HOST");
    }
  }

 private:
  std::optional<std::string> previous_;
};

TEST(Cleanup, UnreachableEngineIsAnEnvironmentError) {
  ScopedDockerHost host("unix:///nonexistent/firedrill-cleanup.sock");
  EXPECT_THROW(cleanup_docker("some-run", false), EnvironmentError);
  EXPECT_THROW(cleanup_docker("", true), EnvironmentError);
  EXPECT_THROW(count_labelled("some-run"), EnvironmentError);
}

TEST(Cleanup, ReaperHasNothingToDoWithoutAnEngine) {
  ScopedDockerHost host("unix:///nonexistent/firedrill-cleanup.sock");
  const CleanupReport report = reap_orphaned_runs();
  EXPECT_TRUE(report.runs.empty());
  EXPECT_TRUE(report.errors.empty());
  EXPECT_EQ(report.removed.containers + report.removed.networks + report.removed.volumes, 0);
}

TEST(Cleanup, RefusedDockerHostIsAnEnvironmentError) {
  ScopedDockerHost host("tcp://docker.example:2375");
  EXPECT_THROW(cleanup_docker("some-run", false), EnvironmentError);
}

}  // namespace
}  // namespace firedrill
