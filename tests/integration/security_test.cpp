// What a hostile image, a hostile container and another user of this machine can make the root
// harness do: nothing outside the run. Each test sets up the attack of security review 2 and
// checks the host afterwards.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "harness/runtime/cleanup.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::read_file;
using testing::run_command;

/// A private state directory: runs of this test are indexed apart from anyone else's.
class SecurityTest : public testing::EngineTest {
 protected:
  void SetUp() override {
    EngineTest::SetUp();
    if (IsSkipped() || HasFailure()) return;
    ::setenv("FIREDRILL_STATE_DIR", (out_ / "state").c_str(), 1);
  }

  fs::path write_scenario(const std::string& name, const std::string& text) {
    const auto path = out_ / (name + ".yaml");
    std::ofstream(path) << text;
    return path;
  }

  /// The run id of the only run in out_, once its directory exists ("" after the deadline).
  std::string wait_for_run(std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::error_code ignored;
      for (const auto& entry : fs::directory_iterator(out_, ignored))
        if (fs::exists(entry.path() / "journal.jsonl")) return entry.path().filename().string();
      std::this_thread::sleep_for(50ms);
    }
    return "";
  }
};

// H1: an image whose `ls` adds a name that climbs out of the base-backup directory.
TEST_F(SecurityTest, AHostileImagesListingCannotNameAHostPath) {
  const fs::path escape = "/tmp/FD_ESCAPE";
  fs::remove(escape);
  const fs::path context = out_ / "hostile-image";
  fs::create_directories(context);
  // Only when listing a backup directory: the image's entrypoint lists PGDATA too.
  std::ofstream(context / "ls") << "#!/bin/sh\n/bin/ls \"$@\"\ncase \"$*\" in *fd-backup*)\n"
                                   "  echo ../../../../../../../../../../../../../../../../tmp/FD_ESCAPE;;\nesac\n";
  std::ofstream(context / "Dockerfile") << "FROM firedrill/postgres:15\nCOPY ls /usr/local/bin/ls\n"
                                           "RUN chmod 755 /usr/local/bin/ls && echo pwned >/tmp/FD_ESCAPE\n";
  const auto built = run_command({"docker", "build", "-q", "-t", "firedrill/test-hostile-ls:latest", context.string()}, 120s);
  ASSERT_EQ(built.exit_code, 0) << built.output;

  const auto scenario = write_scenario("hostile-basebackup", R"(version: 1
name: hostile-basebackup
services:
  db: { kind: postgres, image: "firedrill/test-hostile-ls:latest" }
steps:
  - { name: back up, action: backup, target: db, method: basebackup }
)");
  const auto [outcome, report] = drill(scenario);
  EXPECT_EQ(outcome.exit_code, 1) << outcome.output;
  EXPECT_FALSE(fs::exists(escape)) << "the container wrote " << read_file(escape) << " on this machine";
  EXPECT_NE(outcome.output.find("which is not a file name"), std::string::npos) << outcome.output;
  EXPECT_NE(outcome.output.find("FD_ESCAPE"), std::string::npos) << outcome.output;
  fs::remove(escape);
}

// H2: an unprivileged user plants the disk-full file as a symlink to a file of theirs choosing,
// and root in the container turns a file of its own into a symlink to a host file for `corrupt`.
TEST_F(SecurityTest, NeitherAnotherUserNorTheContainerCanAimAFaultAtAHostFile) {
  const fs::path victim = fmt::format("/var/tmp/fd-victim-{}", ::getpid());
  const std::string original(4096, 'v');
  std::ofstream(victim) << original;
  fs::permissions(victim, fs::perms::all & ~(fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec));

  const auto scenario = write_scenario("planted", R"(version: 1
name: planted
services:
  cache: { kind: redis, disk: 64MiB }
steps:
  - { name: plant time, wait: 6s }
  - { name: fill, fault: disk-full, target: cache, duration: 1s }
  - { name: settle, wait: 1s }
  - { name: damage the link, fault: corrupt, what: file, path: /data/l, target: cache }
)");
  const int pid = testing::spawn_command({FIREDRILL_BINARY, "run", scenario.string(), "--out", out_.string()},
                                         (out_ / "run.log").string());
  const std::string run_id = wait_for_run(60s);
  ASSERT_FALSE(run_id.empty()) << read_file(out_ / "run.log");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (read_file(out_ / "run.log").find("plant time") == std::string::npos && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_NE(read_file(out_ / "run.log").find("plant time"), std::string::npos) << read_file(out_ / "run.log");

  const fs::path mount = size_limited_mount_directory(run_id, "cache");
  struct stat run_folder {}, data {};
  ASSERT_EQ(::stat(mount.parent_path().c_str(), &run_folder), 0);
  ASSERT_EQ(::stat(mount.c_str(), &data), 0);
  EXPECT_EQ(run_folder.st_mode & 0077, 0u) << "other users can reach the run's mounts";
  EXPECT_EQ(data.st_mode & 0002, 0u) << "the tmpfs is world-writable";
  const auto planted = run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "ln", "-s",
                                    victim.string(), (mount / "firedrill-disk-full").string()},
                                   10s);
  EXPECT_NE(planted.exit_code, 0) << "user nobody planted the fill file";
  const auto linked = run_command({"docker", "exec", "fd-" + run_id + "-cache", "ln", "-s", victim.string(), "/data/l"}, 20s);
  EXPECT_EQ(linked.exit_code, 0) << linked.output;

  // The corrupt step fails (its file is no file inside the container's data), so the drill does.
  EXPECT_NE(testing::wait_command(pid), 0) << read_file(out_ / "run.log");
  EXPECT_EQ(read_file(victim), original) << "a fault wrote through a symlink into a host file";
  EXPECT_FALSE(fs::exists(mount.parent_path())) << "the run's mounts stayed";
  const std::string log = read_file(out_ / "run.log");
  EXPECT_NE(log.find("/data/l"), std::string::npos) << log;
  fs::remove(victim);
}

}  // namespace
}  // namespace firedrill
