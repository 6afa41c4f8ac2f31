#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "harness/runtime/runtime.hpp"

namespace firedrill {
namespace {

int pid_of_exited_child() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  int status = 0;
  waitpid(child, &status, 0);
  return static_cast<int>(child);
}

TEST(Owner, LabelRoundTrips) {
  const Owner owner{"build-host.example", 4242, 123456789ULL};
  EXPECT_EQ(owner.to_label(), "build-host.example:4242:123456789");
  const auto parsed = Owner::from_label(owner.to_label());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->host, "build-host.example");
  EXPECT_EQ(parsed->pid, 4242);
  EXPECT_EQ(parsed->start_time, 123456789ULL);
}

TEST(Owner, MalformedLabelsAreRejected) {
  EXPECT_FALSE(Owner::from_label(""));
  EXPECT_FALSE(Owner::from_label("host"));
  EXPECT_FALSE(Owner::from_label("host:12"));
  EXPECT_FALSE(Owner::from_label("host:abc:12"));
  EXPECT_FALSE(Owner::from_label("host:12:9x"));
  EXPECT_FALSE(Owner::from_label("host:-3:12"));
  EXPECT_FALSE(Owner::from_label(":12:34"));
}

TEST(Owner, SelfIsAlive) {
  const Owner self = Owner::self();
  EXPECT_EQ(self.pid, static_cast<int>(getpid()));
  EXPECT_GT(self.start_time, 0ULL);
  EXPECT_FALSE(self.host.empty());
  EXPECT_TRUE(self.alive());
  EXPECT_TRUE(Owner::from_label(self.to_label())->alive());
}

TEST(Owner, ExitedProcessIsNotAlive) {
  Owner owner = Owner::self();
  owner.pid = pid_of_exited_child();
  EXPECT_FALSE(owner.alive());
}

TEST(Owner, ReusedPidWithAnotherStartTimeIsNotAlive) {
  Owner owner = Owner::self();
  owner.start_time += 1;
  EXPECT_FALSE(owner.alive());
}

TEST(Owner, AnotherHostIsNotAlive) {
  Owner owner = Owner::self();
  owner.host += "-elsewhere";
  EXPECT_FALSE(owner.alive());
}

}  // namespace
}  // namespace firedrill
