#include "core/host_paths.hpp"

#include <unistd.h>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

namespace fs = std::filesystem;

TEST(RepositoryDirectory, UnsetRelativeAndAbsolute) {
  EXPECT_EQ(repository_directory("", "/runs/r1"), fs::path("/runs/r1/backups"));
  EXPECT_EQ(repository_directory("shared/./sets", "/runs/r1"), fs::path("/runs/r1/shared/sets"));
  EXPECT_EQ(repository_directory("/srv/backups/", "/runs/r1"), fs::path("/srv/backups/"));
}

TEST(RepositoryRefusal, ARelativePathStaysInTheRunDirectory) {
  EXPECT_EQ(repository_refusal("", {}), "");
  EXPECT_EQ(repository_refusal("sets/db", {}), "");
  EXPECT_NE(repository_refusal("../../etc", {}).find("climbs out of the run directory"), std::string::npos);
  EXPECT_NE(repository_refusal("sets/../../x", {}).find("climbs out"), std::string::npos);
}

TEST(RepositoryRefusal, AnAbsolutePathOnlyUnderAGrantedRoot) {
  EXPECT_EQ(repository_refusal("/etc/cron.d", {}),
            "repository '/etc/cron.d' is outside the run directory: grant its directory with --repository-root DIR "
            "or use a path relative to the run directory");
  const fs::path root = fs::temp_directory_path() / ("repository-root-" + std::to_string(::getpid()));
  fs::create_directories(root / "sets");
  EXPECT_EQ(repository_refusal((root / "sets" / "new").string(), {root}), "");
  EXPECT_EQ(repository_refusal(root.string(), {root}), "");
  EXPECT_NE(repository_refusal((root / ".." / "elsewhere").string(), {root}).find("lies under no --repository-root"),
            std::string::npos);
  EXPECT_NE(repository_refusal("/etc", {root}).find(root.string()), std::string::npos);
  // A symlink inside the granted root does not lead out of it.
  fs::create_directory_symlink("/etc", root / "out");
  EXPECT_NE(repository_refusal((root / "out" / "cron.d").string(), {root}), "");
  fs::remove_all(root);
}

}  // namespace
}  // namespace firedrill
