#include "core/interrupt.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

// Security review 2, M12: only SIGINT and SIGTERM were handled, so a dropped SSH session (SIGHUP)
// or a reader of firedrill's output going away (SIGPIPE) killed it mid-fault without teardown.
TEST(Interrupt, AHangupAsksTheDrillToStopLikeCtrlC) {
  install_interrupt_handlers();
  clear_interrupt();
  ASSERT_EQ(::raise(SIGHUP), 0);
  EXPECT_TRUE(interrupted());
  clear_interrupt();
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_TRUE(interrupted());
  clear_interrupt();
}

TEST(Interrupt, ABrokenPipeOnlyFailsTheWrite) {
  install_interrupt_handlers();
  clear_interrupt();
  int ends[2];
  ASSERT_EQ(::pipe(ends), 0);
  ::close(ends[0]);
  // Without a handler the default action ends this process here.
  EXPECT_EQ(::write(ends[1], "x", 1), -1);
  EXPECT_EQ(errno, EPIPE);
  ::close(ends[1]);
  EXPECT_FALSE(interrupted()) << "a broken pipe stopped the drill";
}

TEST(Interrupt, ProgramsStartedLaterGetTheDefaultDispositions) {
  install_interrupt_handlers();
  // A handler (unlike SIG_IGN) is reset by exec: a child's `yes | head` still ends on SIGPIPE.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::execl("/bin/sh", "sh", "-c", "kill -PIPE $$; exit 0", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE) << "status " << status;
}

}  // namespace
}  // namespace firedrill
