#include "harness/rehearse/progress.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace firedrill {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

/// What `write` printed on stderr (fd 2), read back from a file it was redirected to.
template <typename Write>
std::string stderr_of(Write write) {
  char path[] = "/tmp/firedrill-progress-XXXXXX";
  const int file = ::mkstemp(path);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(file, 2);
  write();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(file);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(path);
  return text.str();
}

// Security review 2, bytes: a step's error quotes what a container printed (a server's last log
// lines, an engine's message). Escape sequences in it once reached the terminal as they were:
// able to clear the screen, retitle the window or write a hyperlink.
TEST(Progress, ContainerBytesInAStepErrorCannotSteerTheTerminal) {
  Scenario scenario;
  StepSpec step;
  step.name = "restore";
  scenario.steps = {step};
  const auto printed = stderr_of([&] {
    auto progress = make_progress(ProgressStyle::lines, scenario, real_clock());
    progress->step(0, step);
    progress->step_done(0, step, "failed",
                        "the restored server stopped: \x1b]0;pwned\x07\x1b[2J\x1b]8;;http://198.51.100.7/\x1b\\link\x1b]8;;\x1b\\ FATAL");
    progress->finish();
  });
  EXPECT_THAT(printed, HasSubstr("restore — failed: the restored server stopped: "));
  EXPECT_THAT(printed, HasSubstr("link FATAL"));
  EXPECT_THAT(printed, Not(HasSubstr("\x1b")));
  EXPECT_THAT(printed, Not(HasSubstr("\x07")));
}

}  // namespace
}  // namespace firedrill
