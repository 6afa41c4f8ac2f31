#include "injectors/disk_full.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <fstream>
#include <thread>

#include "core/byte_size.hpp"
#include "harness/services/service.hpp"
#include "injectors/disk_stress_test.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using disk_stress_testing::fault_step;
using disk_stress_testing::mounted;
using disk_stress_testing::scalar;

// About 2.5 MB of rows that do not compress, so the heap must grow by that much.
constexpr const char* big_insert =
    "INSERT INTO filler SELECT g, md5(g::text) || md5((g + 1)::text) || md5((g + 2)::text) "
    "FROM generate_series(1, 20000) AS g";

TEST(ByteSize, ParsesUnitsAndRefusesTheRest) {
  EXPECT_EQ(parse_byte_size("64MiB"), 64ull << 20);
  EXPECT_EQ(parse_byte_size("1GB"), 1000000000ull);
  EXPECT_EQ(parse_byte_size("4096"), 4096ull);
  EXPECT_EQ(parse_byte_size("512KiB"), 512ull << 10);
  EXPECT_FALSE(parse_byte_size("64 MiB"));
  EXPECT_FALSE(parse_byte_size("MiB"));
  EXPECT_FALSE(parse_byte_size("64mb"));
  EXPECT_FALSE(parse_byte_size("99999999999999999999"));
  EXPECT_FALSE(parse_byte_size("20000000TiB"));
}

TEST(DiskFullParams, RefuseALeaveThatIsNotASize) {
  EXPECT_NO_THROW(DiskFullInjector::check_params(fault_step("disk-full", {{"leave", scalar("1MiB")}})));
  try {
    DiskFullInjector::check_params(fault_step("disk-full", {{"leave", scalar("lots")}}));
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "step 'disk-full test': invalid leave 'lots': expected a size like 64MiB, 512KiB, 1GB or a number of bytes");
  }
  const auto& registry = fault_registry();
  ASSERT_TRUE(registry.count("disk-full"));
  EXPECT_TRUE(registry.at("disk-full").spec.needs_target);
}

TEST(DiskFullFill, FillsATmpfsToEnospcAndUnfillFreesIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
  const auto directory = std::filesystem::temp_directory_path() / fmt::format("disk-full-unit-{}", getpid());
  std::filesystem::create_directories(directory);
  ASSERT_EQ(::mount("tmpfs", directory.c_str(), "tmpfs", 0, "size=8m"), 0) << std::strerror(errno);
  const auto file = directory / disk_full::fill_file_name;
  EXPECT_GT(disk_full::fill(file, 0), 7u << 20);
  EXPECT_EQ(disk_full::free_bytes(directory), 0u);
  const int another = ::open((directory / "another").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(another, 0);
  const char page[4096] = {};
  EXPECT_EQ(::write(another, page, sizeof page), -1);
  EXPECT_EQ(errno, ENOSPC);
  ::close(another);
  disk_full::unfill(file);
  disk_full::unfill(file);  // idempotent
  EXPECT_GT(disk_full::free_bytes(directory), 7u << 20);
  EXPECT_GT(disk_full::fill(file, 2u << 20), 4u << 20);
  EXPECT_NEAR(static_cast<double>(disk_full::free_bytes(directory)), 2 << 20, 64 << 10);
  EXPECT_THROW(disk_full::unfill(directory / "another"), std::invalid_argument);
  ::umount2(directory.c_str(), MNT_DETACH);
  std::filesystem::remove_all(directory);
}

TEST(DiskFullFill, RefusesAFillFileSomeoneElsePlanted) {
  // The service's owner can write its data directory: a planted symlink must not send the fill
  // (as root) into a file elsewhere on this machine.
  const auto directory = std::filesystem::temp_directory_path() / fmt::format("disk-full-planted-{}", getpid());
  std::filesystem::create_directories(directory);
  const auto victim = directory.string() + "-victim";
  { std::ofstream(victim) << "host file"; }
  const auto file = directory / disk_full::fill_file_name;
  std::filesystem::create_symlink(victim, file);
  try {
    disk_full::fill(file, 0);
    ADD_FAILURE() << "filled through a planted symlink";
  } catch (const EnvironmentError& error) {
    EXPECT_NE(std::string(error.what()).find(file.string()), std::string::npos) << error.what();
  }
  EXPECT_EQ(std::filesystem::file_size(victim), 9u);
  std::filesystem::remove_all(directory);
  std::filesystem::remove(victim);
}

constexpr char disk_full_purpose[] = "diskfull";
class DiskFullTest : public disk_stress_testing::PostgresRunTest<disk_full_purpose> {};

TEST_F(DiskFullTest, TheDataDirectoryIsAJournalledTmpfsOfTheGivenSize) {
  const auto directory = run_->runtime.size_limited_mount("db");
  EXPECT_EQ(directory, size_limited_mount_directory(run_->run_id(), "db"));
  EXPECT_TRUE(mounted(directory.string()));
  EXPECT_TRUE(std::filesystem::exists(directory / "PG_VERSION"));
  const auto announced = std::find(run_->created.begin(), run_->created.end(),
                                   std::pair<std::string, std::string>{"mount", directory.string()});
  EXPECT_NE(announced, run_->created.end());
  EXPECT_LT(announced - run_->created.begin(),
            std::find_if(run_->created.begin(), run_->created.end(), [](const auto& c) { return c.first == "container"; }) -
                run_->created.begin())
      << "the mount is journalled before the container that uses it";
  struct statvfs stats {};
  ASSERT_EQ(::statvfs(directory.c_str(), &stats), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(stats.f_blocks) * stats.f_frsize, disk_stress_testing::PostgresRun::disk_bytes);
  EXPECT_THROW(run_->runtime.size_limited_mount("nothing"), EnvironmentError);
}

TEST_F(DiskFullTest, InsertsFailWithEnospcWhileFullAndSucceedOnceReverted) {
  ASSERT_TRUE(run_->sql("CREATE TABLE IF NOT EXISTS filler (id int, payload text)")) << run_->last_error;
  auto context = run_->context();
  DiskFullInjector injector;
  auto fault = injector.inject(context, fault_step("disk-full", {}));
  ASSERT_FALSE(run_->journalled.empty());
  EXPECT_EQ(run_->journalled.back().value("type", ""), "unfill");
  EXPECT_EQ(run_->journalled.back().value("service", ""), "db");
  const auto description = fault->describe();
  EXPECT_GT(description.value("bytes_written", 0ull), 1ull << 20);
  EXPECT_EQ(description.value("free_bytes_after", 1ull), 0ull);

  EXPECT_FALSE(run_->sql(big_insert));
  EXPECT_NE(run_->last_error.find("No space left on device"), std::string::npos) << run_->last_error;

  fault->revert();
  fault->revert();  // idempotent
  EXPECT_EQ(run_->reverted, std::vector<std::string>{std::to_string(run_->journalled.size())});
  EXPECT_FALSE(std::filesystem::exists(run_->runtime.size_limited_mount("db") / disk_full::fill_file_name));
  // A Postgres that hit ENOSPC may be restarting its backends; it answers again by itself.
  ASSERT_TRUE(run_->wait_ready()) << run_->last_error;
  EXPECT_TRUE(run_->sql(big_insert)) << run_->last_error << "\n" << tail_lines(run_->runtime.logs("db"), 30);
}

TEST_F(DiskFullTest, DataSurvivesAKillAndAStartAgain) {
  ASSERT_TRUE(run_->sql("CREATE TABLE IF NOT EXISTS survivors (id int)")) << run_->last_error;
  ASSERT_TRUE(run_->sql("INSERT INTO survivors SELECT generate_series(1, 1234)")) << run_->last_error;
  run_->runtime.kill("db", "KILL");
  ASSERT_TRUE(disk_stress_testing::eventually([&] { return !run_->runtime.is_running("db"); }, 20s));
  run_->runtime.start_again("db");
  ASSERT_TRUE(run_->wait_ready()) << run_->last_error;
  EXPECT_EQ(run_->sql("SELECT count(*) FROM survivors"), std::optional<std::string>("1234"));
}

TEST_F(DiskFullTest, CleanupAfterACrashFreesTheSpaceAndUnmounts) {
  auto context = run_->context();
  DiskFullInjector injector;
  auto fault = injector.inject(context, fault_step("disk-full", {{"leave", scalar("1MiB")}}));
  const auto directory = run_->runtime.size_limited_mount("db");
  EXPECT_NEAR(static_cast<double>(disk_full::free_bytes(directory)), 1 << 20, 256 << 10);
  // The harness dies here: only the journal is left.
  const nlohmann::json inverse = run_->journalled.back();
  fault.reset();
  ASSERT_TRUE(std::filesystem::exists(directory / disk_full::fill_file_name));

  DockerRuntime cleaner;
  cleaner.begin_run(run_->run_id(), "disk-stress-test", Owner::self(), {});
  revert_from_journal(cleaner, inverse);
  revert_from_journal(cleaner, inverse);
  EXPECT_FALSE(std::filesystem::exists(directory / disk_full::fill_file_name));

  const CleanupReport report = cleanup_docker(run_->run_id(), false);
  EXPECT_TRUE(report.errors.empty()) << report.errors.front();
  EXPECT_EQ(report.removed.mounts, 1);
  EXPECT_FALSE(mounted(directory.string()));
  EXPECT_FALSE(std::filesystem::exists(directory.parent_path()));
}

TEST(DiskFullTeardown, TeardownUnmountsTheFilesystemItsContainerUsed) {
  const std::string missing = disk_stress_testing::missing_environment();
  if (!missing.empty()) {
    if (std::getenv("CI") != nullptr) FAIL() << missing << " (CI is set, so this is a failure)";
    GTEST_SKIP() << missing;
  }
  const std::string run_id = fmt::format("test-diskfull-teardown-{}", getpid());
  DockerRuntime runtime;
  runtime.begin_run(run_id, "disk-stress-test", Owner::self(), {});
  std::filesystem::path directory;
  try {
    ContainerSpec cache;
    cache.service = "cache";
    cache.image = "firedrill/redis:7";
    cache.size_limited = SizeLimitedMount{"/data", 16u << 20};
    runtime.start(cache);
    directory = runtime.size_limited_mount("cache");
    EXPECT_TRUE(mounted(directory.string()));
    // The container runs before redis-server listens: a loaded machine shows the gap.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (runtime.exec("cache", {"redis-cli", "PING"}, 10s).output.find("PONG") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);
    const auto saved = runtime.exec("cache", {"redis-cli", "SAVE"}, 10s);
    EXPECT_EQ(saved.exit_code, 0) << saved.output;
    EXPECT_TRUE(std::filesystem::exists(directory / "dump.rdb"));
    runtime.teardown();
  } catch (...) {
    cleanup_docker(run_id, false);
    throw;
  }
  EXPECT_FALSE(mounted(directory.string()));
  EXPECT_FALSE(std::filesystem::exists(directory.parent_path()));
}

}  // namespace
}  // namespace firedrill
