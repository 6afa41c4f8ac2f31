#include "harness/engine/run_cleanup.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "harness/runtime/journal.hpp"
#include "harness/runtime/process/process_group.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;

/// Sets an environment variable for one test and puts the old value back.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) previous_ = old;
    setenv(name, value.c_str(), 1);
  }
  ScopedVariable(const ScopedVariable&) = delete;
  ScopedVariable& operator=(const ScopedVariable&) = delete;
  ~ScopedVariable() {
    if (previous_) {
      setenv(name_, previous_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> previous_;
};

/// Points DOCKER_HOST somewhere for one test and puts the old value back.
class ScopedDockerHost : public ScopedVariable {
 public:
  explicit ScopedDockerHost(const std::string& value) : ScopedVariable("DOCKER_HOST", value) {}
};

TEST(Cleanup, UnreachableEngineIsAnEnvironmentError) {
  ScopedDockerHost host("unix:///nonexistent/firedrill-cleanup.sock");
  EXPECT_THROW(cleanup_docker("some-run", false), EnvironmentError);
  EXPECT_THROW(cleanup_docker("", true), EnvironmentError);
  EXPECT_THROW(count_labelled("some-run"), EnvironmentError);
}

TEST(Cleanup, ReaperHasNothingToDoWithoutAnEngine) {
  ScopedDockerHost host("unix:///nonexistent/firedrill-cleanup.sock");
  // No index of runs: the journal part of the reaper has nothing to find either.
  ScopedVariable state("FIREDRILL_STATE_DIR", "/nonexistent/firedrill-state");
  const CleanupReport report = reap_orphaned_runs();
  EXPECT_TRUE(report.runs.empty());
  EXPECT_TRUE(report.errors.empty());
  EXPECT_EQ(report.removed.containers + report.removed.networks + report.removed.volumes, 0);
}

TEST(Cleanup, RefusedDockerHostIsAnEnvironmentError) {
  ScopedDockerHost host("tcp://docker.example:2375");
  EXPECT_THROW(cleanup_docker("some-run", false), EnvironmentError);
}

/// A directory of its own for one test, removed afterwards.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern = (fs::temp_directory_path() / "fd-cleanup-XXXXXX").string();
    if (::mkdtemp(pattern.data())) path_ = pattern;
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  ~TemporaryDirectory() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

/// A socket file nobody listens on: connecting to it is refused at once, as to an engine that died
/// and left its socket behind.
fs::path unanswered_socket(const fs::path& directory) {
  const fs::path path = directory / "engine.sock";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
  ::close(fd);
  return path;
}

/// A sleeping process in a process group of its own, recorded in a pid file as the process runtime
/// records a service; reaped by a thread of this test as soon as it dies.
class RecordedSleeper {
 public:
  explicit RecordedSleeper(const fs::path& pid_file) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
    record_ = {pid_, process_start_time(pid_).value_or(0), pid_, {}};
    fs::create_directories(pid_file.parent_path());
    write_pid_file(pid_file, record_);
    waiter_ = std::thread([pid = pid_] { ::waitpid(pid, nullptr, 0); });
  }
  RecordedSleeper(const RecordedSleeper&) = delete;
  RecordedSleeper& operator=(const RecordedSleeper&) = delete;
  ~RecordedSleeper() {
    ::kill(pid_, SIGKILL);
    waiter_.join();
  }
  /// True while the process runs; a killed one waiting to be reaped counts as gone.
  bool running() const { return record_.leader_alive(); }

 private:
  pid_t pid_ = 0;
  RecordedProcess record_;
  std::thread waiter_;
};

/// A run of the process runtime as a harness leaves it: journal, index entry and one service
/// process, owned by `owner`.
fs::path created(const fs::path& directory) {
  fs::create_directories(directory);
  return directory;
}

/// A run of the process runtime as a harness leaves it: journal, index entry and one service
/// process, owned by `owner`.
struct JournalledProcessRun {
  JournalledProcessRun(const fs::path& out, const std::string& id, const Owner& owner)
      : run_id(id),
        run_dir(created(out / id)),
        journal(run_dir, id, "reaper-test", owner),
        pid_file(run_dir / "services" / "db" / "pid"),
        sleeper(pid_file) {
    journal.record_create("process", pid_file.string());
  }

  std::string run_id;
  fs::path run_dir;
  Journal journal;
  fs::path pid_file;
  RecordedSleeper sleeper;
};

bool indexed(const std::string& run_id) {
  for (const auto& run : indexed_runs())
    if (run.run_id == run_id) return true;
  return false;
}

/// This process's identity with another start time: a pid the kernel gave to someone else.
Owner dead_owner() {
  Owner owner = Owner::self();
  owner.start_time += 1;
  return owner;
}

class Reaper : public ::testing::Test {
 protected:
  TemporaryDirectory scratch_;
  ScopedVariable state_{"FIREDRILL_STATE_DIR", (scratch_.path() / "state").string()};
  ScopedDockerHost engine_{"unix://" + unanswered_socket(scratch_.path()).string()};
  fs::path out_ = scratch_.path() / "runs";
};

TEST_F(Reaper, ReturnsAtOnceWithoutErrorWhenNoEngineListensOnTheSocket) {
  const auto started = std::chrono::steady_clock::now();
  const CleanupReport report = reap_orphaned_runs();
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_TRUE(report.runs.empty());
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
}

TEST_F(Reaper, StopsTheProcessesOfARunWhoseOwnerDiedAndForgetsIt) {
  JournalledProcessRun run(out_, "20261126-000000-dead", dead_owner());
  ASSERT_TRUE(run.sleeper.running());
  ASSERT_TRUE(indexed(run.run_id));

  const CleanupReport report = reap_orphaned_runs();
  EXPECT_EQ(report.runs, std::vector<std::string>{run.run_id});
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_NE(std::find(report.notes.begin(), report.notes.end(), run.run_id + ": stopped its processes"), report.notes.end());
  EXPECT_FALSE(run.sleeper.running());
  EXPECT_FALSE(fs::exists(run.pid_file));
  EXPECT_FALSE(indexed(run.run_id));
}

TEST_F(Reaper, LeavesARunWhoseOwnerLivesAndASparedOrKeptRun) {
  JournalledProcessRun live(out_, "20261126-000000-live", Owner::self());
  JournalledProcessRun spared(out_, "20261126-000000-spar", dead_owner());
  JournalledProcessRun kept(out_, "20261126-000000-kept", dead_owner());
  kept.journal.mark_kept();

  const CleanupReport report = reap_orphaned_runs({spared.run_id});
  EXPECT_TRUE(report.runs.empty());
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  for (const auto* run : {&live, &spared, &kept}) {
    EXPECT_TRUE(run->sleeper.running()) << run->run_id;
    EXPECT_TRUE(indexed(run->run_id)) << run->run_id;
    EXPECT_TRUE(fs::exists(run->pid_file)) << run->run_id;
  }
}

TEST_F(Reaper, LeavesARunWithContainersForCleanupWhenNoEngineAnswers) {
  const std::string run_id = "20261126-000000-ctnr";
  fs::create_directories(out_ / run_id);
  Journal journal(out_ / run_id, run_id, "reaper-test", dead_owner());
  journal.record_create("container", "fd-" + run_id + "-db");

  const CleanupReport report = reap_orphaned_runs();
  EXPECT_TRUE(report.runs.empty());
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_TRUE(indexed(run_id));
}

TEST(JournalledMount, OnlyTheRunsOwnDirectoriesAndTheMountRootAreTouched) {
  JournalState run;
  run.run_id = "20261126-000000-mnts";
  run.run_dir = "/tmp/fd-runs/20261126-000000-mnts";
  std::vector<std::string> errors;
  EXPECT_FALSE(release_journalled_mount(run, "/etc", errors));
  EXPECT_FALSE(release_journalled_mount(run, "/tmp/fd-runs/20261126-000000-mnts/services/../../other/services/db/data", errors));
  EXPECT_FALSE(release_journalled_mount(run, "/tmp/fd-runs/20261126-000000-mnts/services", errors));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors.front().find("left alone"), std::string::npos) << errors.front();
  errors.clear();
  EXPECT_FALSE(release_journalled_mount(run, "/tmp/fd-runs/20261126-000000-mnts/services/db/data", errors));
  EXPECT_TRUE(errors.empty());
}

}  // namespace
}  // namespace firedrill
