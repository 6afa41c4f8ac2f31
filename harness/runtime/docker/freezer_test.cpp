#include "harness/runtime/docker/freezer.hpp"

#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

const std::string id = "3f9a1c07b2e4d6583f9a1c07b2e4d6583f9a1c07b2e4d6583f9a1c07b2e4d658";

TEST(Freezer, TheControlOfTheContainersOwnCgroupOnEitherHierarchy) {
  EXPECT_EQ(freezer_control_in("6:freezer:/docker/" + id + "\n0::/\n", id),
            std::filesystem::path("/sys/fs/cgroup/freezer/docker/" + id + "/freezer.state"));
  EXPECT_EQ(freezer_control_in("0::/system.slice/docker-" + id + ".scope\n", id),
            std::filesystem::path("/sys/fs/cgroup/system.slice/docker-" + id + ".scope/cgroup.freeze"));
}

// Security review 2, M11: with the engine's socket mounted into another pid namespace, the pid
// the engine gives is some local process (firedrill itself, say); its cgroup names no container.
TEST(Freezer, AProcessOutsideTheContainersCgroupIsNeverFrozen) {
  EXPECT_EQ(freezer_control_in("6:freezer:/\n0::/\n", id), std::nullopt);
  EXPECT_EQ(freezer_control_in("6:freezer:/docker/" + std::string(64, 'a') + "\n", id), std::nullopt);
  EXPECT_EQ(freezer_control_in("0::/user.slice/session-2.scope\n", id), std::nullopt);
  // A v1 freezer decides even when the unified hierarchy's path would match.
  EXPECT_EQ(freezer_control_in("6:freezer:/\n0::/docker/" + id + "\n", id), std::nullopt);
  // Only a full id: a prefix would match other containers' cgroups too.
  EXPECT_EQ(freezer_control_in("6:freezer:/docker/" + id + "\n", id.substr(0, 12)), std::nullopt);
  EXPECT_EQ(freezer_control_in("6:freezer:/docker/" + id + "\n", ""), std::nullopt);
  EXPECT_EQ(freezer_control_of(::getpid(), id), std::nullopt) << "this test's own process was taken for the container";
}

}  // namespace
}  // namespace firedrill
