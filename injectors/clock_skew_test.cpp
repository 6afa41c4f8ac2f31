#include "injectors/clock_skew.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker/docker_runtime.hpp"
#include "harness/runtime/process/process_runtime.hpp"
#include "injectors/netfilter_test.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using netfault_testing::fault_step;
using netfault_testing::scalar;

constexpr const char* password = "clock-skew-test-secret";
const fs::path source_dir = FIREDRILL_SOURCE_DIR;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(ClockSkewParams, OffsetsAreSignedDurations) {
  EXPECT_EQ(clock_skew::parse_offset("+90s"), 90'000'000);
  EXPECT_EQ(clock_skew::parse_offset("90s"), 90'000'000);
  EXPECT_EQ(clock_skew::parse_offset("-5m"), -300'000'000);
  EXPECT_EQ(clock_skew::parse_offset("+1h30m"), 5'400'000'000);
  EXPECT_EQ(clock_skew::parse_offset("-250ms"), -250'000);
  EXPECT_THROW(clock_skew::parse_offset("+0s"), std::invalid_argument);
  EXPECT_THROW(clock_skew::parse_offset("ahead"), std::invalid_argument);
  EXPECT_THROW(clock_skew::parse_offset("+-5s"), std::invalid_argument);
  EXPECT_THROW(clock_skew::parse_offset(""), std::invalid_argument);
  EXPECT_EQ(clock_skew::offset_words(90'000'000), "+90.000000");
  EXPECT_EQ(clock_skew::offset_words(-300'500'000), "-300.500000");
  try {
    ClockSkewInjector::check_params(fault_step("clock-skew", "db", {{"offset", scalar("soon")}}));
    FAIL() << "accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("clock-skew 'offset'"), std::string::npos) << error.what();
  }
}

TEST(ClockSkewRegistry, PreparesOnlyItsTargetAndNeedsItsFiles) {
  const auto& entry = fault_registry().at("clock-skew");
  ASSERT_TRUE(entry.spec.needs);
  const StepSpec step = fault_step("clock-skew", "db", {{"offset", scalar("+90s")}});
  EXPECT_EQ(entry.spec.needs(step), std::vector<Capability>{Capability::file_access});
  ASSERT_TRUE(entry.spec.prepare_service);
  ServiceSpec db;
  db.name = "db";
  db.env["LD_PRELOAD"] = "/usr/lib/other.so";
  ServiceSpec app;
  app.name = "app";
  entry.spec.prepare_service(step, db);
  entry.spec.prepare_service(step, db);
  entry.spec.prepare_service(step, app);
  EXPECT_EQ(db.env["LD_PRELOAD"], "/usr/lib/other.so:/usr/local/lib/firedrill/firedrill-clock.so") << "added once, after";
  EXPECT_EQ(db.env["FIREDRILL_CLOCK_FILE"], clock_skew::offset_file);
  EXPECT_TRUE(app.env.empty());
}

/// The clock library itself (fixtures/clock), as ci/setup and the images build it: a new process
/// shows the file's offset on its wall clock only, none without the file.
TEST(ClockLibrary, ShiftsTheWallClockOfWhatItIsPreloadedIntoOnly) {
  const fs::path scratch = fs::temp_directory_path() / fmt::format("fd-clock-test-{}", ::getpid());
  fs::create_directories(scratch);
  const fs::path library = scratch / "firedrill-clock.so";
  ASSERT_EQ(std::system(fmt::format("'{}' '{}'", (source_dir / "fixtures/clock/build").string(), library.string()).c_str()), 0);
  const auto shown = [&](const std::string& variables) {
    const fs::path out = scratch / "out";
    const std::string command = fmt::format("env LD_PRELOAD='{}' {} date +%s.%N > '{}'", library.string(), variables, out.string());
    const double before = now_seconds();
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    const double after = now_seconds();
    std::ifstream in(out);
    double seconds = 0;
    in >> seconds;
    return seconds - (before + after) / 2;
  };
  const fs::path offset = scratch / "clock";
  const std::string reads = fmt::format("FIREDRILL_CLOCK_FILE='{}'", offset.string());
  EXPECT_NEAR(shown(reads), 0, 0.5) << "no file, no offset";
  std::ofstream(offset) << "+90.000000\n";
  EXPECT_NEAR(shown(reads), 90, 0.5);
  EXPECT_NEAR(shown(""), 0, 0.5) << "no variable, no offset";
  std::ofstream(offset) << "-300.500000\n";
  EXPECT_NEAR(shown(reads), -300.5, 0.5);
  std::ofstream(offset) << "+0\n";
  EXPECT_NEAR(shown(reads), 0, 0.5);
  fs::remove_all(scratch);
}

/// Postgres started as a drill starts the target of a clock-skew step, on one runtime.
class ClockSkewTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "docker") {
      const std::string missing = netfault_testing::missing_environment();
      if (!missing.empty()) {
        if (std::getenv("CI")) FAIL() << missing;
        GTEST_SKIP() << missing;
      }
      runtime_ = std::make_unique<DockerRuntime>();
    } else {
      if (!fs::exists("/usr/local/lib/firedrill/firedrill-clock.so")) {
        if (std::getenv("CI")) FAIL() << "no clock library on this machine; ci/setup installs it";
        GTEST_SKIP() << "no clock library on this machine; run ci/setup";
      }
      out_ = fs::temp_directory_path() / fmt::format("fd-clock-skew-{}", ::getpid());
      fs::create_directories(out_);
      runtime_ = std::make_unique<ProcessRuntime>(out_);
    }
    run_id_ = fmt::format("test-clock-{}-{}", ::getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
    runtime_->begin_run(run_id_, "clock-skew-test", Owner::self(), {});
    ServiceSpec service;
    service.name = "db";
    fault_registry().at("clock-skew").spec.prepare_service(step(), service);
    ContainerSpec spec;
    spec.service = "db";
    spec.image = "firedrill/postgres:15";
    spec.env = {fmt::format("POSTGRES_PASSWORD={}", password)};
    for (const auto& [key, value] : service.env) spec.env.push_back(key + "=" + value);
    spec.ports = {5432};
    port_ = runtime_->start(spec).host_ports.at(5432);
    ASSERT_TRUE(netfault_testing::eventually([&] { return server_offset().has_value(); }, 90s, 500ms)) << "postgres never answered";
  }
  void TearDown() override {
    try {
      if (runtime_) runtime_->teardown();
    } catch (const std::exception& error) {
      ADD_FAILURE() << error.what();
    }
    if (!out_.empty()) fs::remove_all(out_);
    std::error_code ignored;
    fs::remove(events_path_, ignored);
  }

  static StepSpec step() { return fault_step("clock-skew", "db", {{"offset", scalar("+90s")}}); }

  FaultContext context() {
    return FaultContext{*runtime_, events_,
                        [this](const nlohmann::json& inverse) {
                          journalled_.push_back(inverse);
                          return std::to_string(journalled_.size());
                        },
                        [this](const std::string& id) { reverted_.push_back(id); }};
  }

  /// How far the running server's now() is from this machine's clock, seen from outside over SQL.
  std::optional<double> server_offset() {
    try {
      pqxx::connection connection(fmt::format("host=127.0.0.1 port={} user=postgres password={} dbname=postgres connect_timeout=3", port_, password));
      pqxx::work work(connection);
      const double before = now_seconds();
      const double server = work.exec1("SELECT extract(epoch FROM clock_timestamp())")[0].as<double>();
      const double after = now_seconds();
      return server - (before + after) / 2;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  std::unique_ptr<Runtime> runtime_;
  fs::path out_;
  std::string run_id_;
  int port_ = 0;
  SteadyAnchoredClock clock_;
  fs::path events_path_ = fs::temp_directory_path() / fmt::format("fd-clock-events-{}.jsonl", ::getpid());
  EventLog events_{events_path_, clock_};
  std::vector<nlohmann::json> journalled_;
  std::vector<std::string> reverted_;
};

TEST_P(ClockSkewTest, TheRunningServerShowsTheOffsetWhileActiveAndTheTrueTimeAfter) {
  ASSERT_NEAR(*server_offset(), 0, 0.5) << "the clock is true before the fault";
  auto context = this->context();
  auto fault = ClockSkewInjector().inject(context, step());
  ASSERT_EQ(journalled_.size(), 1u);
  EXPECT_EQ(journalled_[0].value("type", ""), "clock-skew");
  // The fault returns once the server's own processes have the new clock.
  const auto during = server_offset();
  ASSERT_TRUE(during);
  EXPECT_NEAR(*during, 90, 0.5);
  EXPECT_NEAR(fault->describe()["shown_offset_seconds"].get<double>(), 90, 0.5) << fault->describe().dump();
  fault->revert();
  EXPECT_EQ(reverted_, std::vector<std::string>{"1"});
  EXPECT_NEAR(*server_offset(), 0, 0.5) << "the clock stayed skewed after the revert";
}

TEST_P(ClockSkewTest, TheJournalledInverseAloneSetsTheClockTrue) {
  auto context = this->context();
  auto fault = ClockSkewInjector().inject(context, step());
  ASSERT_NEAR(*server_offset(), 90, 0.5);
  // A harness that died: only the journal is left, read by a runtime that never started anything.
  std::unique_ptr<Runtime> fresh;
  if (GetParam() == "docker") fresh = std::make_unique<DockerRuntime>();
  else fresh = std::make_unique<ProcessRuntime>(out_);
  fresh->begin_run(run_id_, "clock-skew-test", Owner::self(), {});
  revert_from_journal(*fresh, journalled_.at(0));
  EXPECT_TRUE(netfault_testing::eventually([&] { return std::abs(server_offset().value_or(99)) < 0.5; }, 5s));
}

INSTANTIATE_TEST_SUITE_P(Runtimes, ClockSkewTest, ::testing::Values("docker", "process"),
                         [](const ::testing::TestParamInfo<std::string>& runtime) { return runtime.param; });

}  // namespace
}  // namespace firedrill
