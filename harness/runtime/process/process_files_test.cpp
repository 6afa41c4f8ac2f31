#include "harness/runtime/process/process_files.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

TEST(ProcessStat, FieldsAreReadAfterTheLastParenthesisOfTheName) {
  // A command may name itself anything, ") S 1 1" included.
  const auto stat = parse_process_stat(
      "4242 (evil) S 1 1 1) Z 17 4240 4239 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0\n");
  ASSERT_TRUE(stat);
  EXPECT_EQ(stat->state, 'Z');
  EXPECT_TRUE(stat->exited());
  EXPECT_EQ(stat->parent, 17);
  EXPECT_EQ(stat->process_group, 4240);
  EXPECT_EQ(stat->session, 4239);
  EXPECT_EQ(stat->start_time, 987654u);
}

TEST(ProcessStat, TornOrForeignTextIsNotAStat) {
  EXPECT_FALSE(parse_process_stat(""));
  EXPECT_FALSE(parse_process_stat("4242 (name"));
  EXPECT_FALSE(parse_process_stat("4242 (name) S 1 2 3"));  // cut short
  EXPECT_FALSE(parse_process_stat("4242 (name) S x 1 1 0 -1 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0"));
}

TEST(ProcessFiles, AGoneProcessIsAnAnswerNotAnError) {
  const auto own = read_process_stat(::getpid());
  ASSERT_TRUE(own);
  EXPECT_EQ(own->parent, ::getppid());
  EXPECT_FALSE(own->exited());
  const auto ids = process_ids();
  EXPECT_NE(std::find(ids.begin(), ids.end(), ::getpid()), ids.end());

  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  // Exited, not yet reaped: a zombie, still readable.
  for (int tries = 0; tries < 1000 && !read_process_stat(child).value_or(ProcessStat{}).exited(); ++tries) ::usleep(1000);
  EXPECT_TRUE(read_process_stat(child).value_or(ProcessStat{}).exited());
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(read_process_stat(child));
  EXPECT_FALSE(read_process_file(child, "cmdline"));
  EXPECT_FALSE(read_process_file(-1, "stat"));
}

TEST(ProcessFiles, ReadingProcessesThatExitMidReadNeverThrows) {
  // Children exit while their files are read, again and again: every read is a value or nullopt.
  for (int round = 0; round < 200; ++round) {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    EXPECT_NO_THROW({
      for (int read = 0; read < 5; ++read) {
        [[maybe_unused]] const auto stat = read_process_stat(child);
        [[maybe_unused]] const auto environment = read_process_file(child, "environ");
      }
    });
    ::waitpid(child, nullptr, 0);
  }
}

}  // namespace
}  // namespace firedrill
