#pragma once
// A real Postgres container of its own run, with its data directory on a size-limited
// filesystem, for the disk-full and stress tests; removed however the test ends.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker/docker_runtime.hpp"
#include "injectors/injector.hpp"

namespace firedrill::disk_stress_testing {

using namespace std::chrono_literals;

/// Why the run cannot be started here, or empty when it can.
inline std::string missing_environment() {
  if (!docker::EngineApi::from_environment().ping()) return "no Docker engine answers";
  try {
    docker::EngineApi::from_environment().get("/images/firedrill/postgres:15/json");
  } catch (const docker::EngineError&) {
    return "image firedrill/postgres:15 is missing (fixtures/images/build)";
  }
  if (::geteuid() != 0) return "mounting a size-limited filesystem needs root";
  return "";
}

template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds within, std::chrono::milliseconds every = 200ms) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

/// Whether /proc/mounts lists a filesystem mounted at `directory`.
inline bool mounted(const std::string& directory) {
  std::ifstream mounts("/proc/mounts");
  std::string device, point, rest;
  while (mounts >> device >> point && std::getline(mounts, rest))
    if (point == directory) return true;
  return false;
}

class PostgresRun {
 public:
  static constexpr const char* password = "disk-stress-test-secret";
  static constexpr std::uint64_t disk_bytes = 64ull << 20;

  explicit PostgresRun(const std::string& purpose)
      : run_id_(fmt::format("test-{}-{}-{}", purpose, getpid(),
                            std::chrono::steady_clock::now().time_since_epoch().count() % 1000000)),
        events_path_(std::filesystem::temp_directory_path() / (run_id_ + "-events.jsonl")),
        events_(events_path_, clock_) {
    runtime.begin_run(run_id_, "disk-stress-test", Owner::self(),
                      [this](const std::string& kind, const std::string& name) { created.emplace_back(kind, name); });
    try {
      ContainerSpec db;
      db.service = "db";
      db.image = "firedrill/postgres:15";
      db.env = {fmt::format("POSTGRES_PASSWORD={}", password)};
      db.ports = {5432};
      db.size_limited = SizeLimitedMount{"/var/lib/postgresql/data", disk_bytes};
      db_port = runtime.start(db).host_ports.at(5432);
      ready = wait_ready();
    } catch (...) {
      remove();
      throw;
    }
  }
  PostgresRun(const PostgresRun&) = delete;
  PostgresRun& operator=(const PostgresRun&) = delete;
  ~PostgresRun() {
    try {
      remove();
    } catch (const std::exception& error) {
      ADD_FAILURE() << "cleanup of " << run_id_ << " failed: " << error.what();
    }
    std::error_code ignored;
    std::filesystem::remove(events_path_, ignored);
  }

  void remove() {
    const CleanupReport report = cleanup_docker(run_id_, false);
    for (const auto& error : report.errors) ADD_FAILURE() << error;
  }

  bool wait_ready() {
    return eventually([&] { return sql("SELECT 1").has_value(); }, 90s, 300ms);
  }

  /// The first column of the first row of `query`, or nothing with the error in last_error.
  std::optional<std::string> sql(const std::string& query) {
    try {
      pqxx::connection connection(fmt::format(
          "host=127.0.0.1 port={} user=postgres password={} dbname=postgres connect_timeout=2", db_port, password));
      pqxx::work transaction(connection);
      auto result = transaction.exec(query);
      transaction.commit();
      last_error.clear();
      if (result.empty() || result.columns() == 0) return std::string();
      return result[0][0].is_null() ? std::string() : result[0][0].c_str();
    } catch (const std::exception& error) {
      last_error = error.what();
      return std::nullopt;
    }
  }

  /// A context whose journal keeps the inverses in `journalled` and the reverted ids in `reverted`.
  FaultContext context() {
    return FaultContext{runtime, events_,
                        [this](const nlohmann::json& inverse) {
                          journalled.push_back(inverse);
                          return std::to_string(journalled.size());
                        },
                        [this](const std::string& id) { reverted.push_back(id); }, {}};
  }

  /// The host path of the container's cgroup for `controller` (cgroup v1), e.g. cpuacct, memory.
  std::filesystem::path cgroup(const std::string& controller) {
    const auto container = docker::EngineApi::from_environment().get(
        fmt::format("/containers/{}/json", runtime.container_name("db")));
    const int pid = container["State"].value("Pid", 0);
    std::ifstream membership(fmt::format("/proc/{}/cgroup", pid));
    std::string line;
    while (std::getline(membership, line)) {
      const auto first = line.find(':'), second = line.find(':', first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      const std::string controllers = "," + line.substr(first + 1, second - first - 1) + ",";
      if (controllers.find("," + controller + ",") != std::string::npos)
        return std::filesystem::path("/sys/fs/cgroup") / controller / line.substr(second + 2);
    }
    return {};
  }

  std::uint64_t cgroup_value(const std::string& controller, const std::string& file) {
    std::ifstream in(cgroup(controller) / file);
    std::uint64_t value = 0;
    in >> value;
    return value;
  }

  const std::string& run_id() const { return run_id_; }

  DockerRuntime runtime;
  int db_port = 0;
  bool ready = false;
  std::string last_error;
  std::vector<std::pair<std::string, std::string>> created;
  std::vector<nlohmann::json> journalled;
  std::vector<std::string> reverted;

 private:
  std::string run_id_;
  SteadyAnchoredClock clock_;
  std::filesystem::path events_path_;
  EventLog events_;
};

/// A fault step as the loader would produce it.
inline StepSpec fault_step(const std::string& fault, const Params& params, std::optional<Duration> duration = {}) {
  StepSpec step;
  step.name = fault + " test";
  step.verb = StepVerb::fault;
  step.what = fault;
  step.target = "db";
  step.params = params;
  step.duration = duration;
  return step;
}

/// A scalar parameter as the loader gives it: its text, and its number when the text is one.
inline ParamValue scalar(const std::string& text) {
  ParamValue value;
  value.text = text;
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (!text.empty() && end == text.c_str() + text.size()) value.number = number;
  return value;
}

/// One run per test suite: starting Postgres costs seconds. Without an engine the tests skip, or
/// fail when CI is set.
template <const char* Purpose>
class PostgresRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string missing = missing_environment();
    if (!missing.empty()) {
      skip_reason_ = new std::string(missing);
      return;
    }
    run_ = new PostgresRun(Purpose);
  }
  static void TearDownTestSuite() {
    delete run_;
    run_ = nullptr;
    delete skip_reason_;
    skip_reason_ = nullptr;
  }
  void SetUp() override {
    if (skip_reason_) {
      if (std::getenv("CI") != nullptr) FAIL() << *skip_reason_ << " (CI is set, so this is a failure)";
      GTEST_SKIP() << *skip_reason_;
    }
    ASSERT_TRUE(run_->ready) << "Postgres never answered: " << run_->last_error;
  }

  static inline PostgresRun* run_ = nullptr;
  static inline std::string* skip_reason_ = nullptr;
};

}  // namespace firedrill::disk_stress_testing
