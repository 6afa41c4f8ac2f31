#pragma once
// A small real run for the network-fault tests: db (Postgres), cache (Redis) and the fixture app
// on a run network of their own, started once per test suite and removed however it ends.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/runtime/docker/docker_runtime.hpp"
#include "injectors/injector.hpp"
#include "injectors/netfilter.hpp"

namespace firedrill::netfault_testing {

using namespace std::chrono_literals;

inline bool image_present(const std::string& image) {
  try {
    docker::EngineApi::from_environment().get(fmt::format("/images/{}/json", image));
    return true;
  } catch (const docker::EngineError&) {
    return false;
  }
}

/// Why the run cannot be started here (no engine, images missing), or empty when it can.
inline std::string missing_environment() {
  if (!docker::EngineApi::from_environment().ping()) return "no Docker engine answers";
  for (const char* image : {"firedrill/postgres:15", "firedrill/redis:7", "firedrill/app:latest", "firedrill/base:bookworm"})
    if (!image_present(image)) return fmt::format("image {} is missing (fixtures/images/build)", image);
  return "";
}

inline size_t collect_body(char* data, size_t size, size_t count, void* body) {
  static_cast<std::string*>(body)->append(data, size * count);
  return size * count;
}

/// GET http://127.0.0.1:port/path; the status (0 when no answer within 3 s) and the body.
inline int http_get(int port, const std::string& path, std::string& body) {
  body.clear();
  CURL* curl = curl_easy_init();
  const std::string url = fmt::format("http://127.0.0.1:{}{}", port, path);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  return static_cast<int>(status);
}

/// Polls until condition() holds or the deadline passes; returns whether it held.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds within, std::chrono::milliseconds every = 200ms) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

class NetworkFaultRun {
 public:
  static constexpr const char* password = "netfault-test-secret";

  NetworkFaultRun()
      : run_id_(fmt::format("test-netfault-{}-{}", getpid(), std::chrono::steady_clock::now().time_since_epoch().count() % 1000000)),
        events_path_(std::filesystem::temp_directory_path() / (run_id_ + "-events.jsonl")),
        events_(events_path_, clock_) {
    runtime.begin_run(run_id_, "netfault-test", Owner::self(), {});
    try {
      start_services();
    } catch (...) {
      cleanup_docker(run_id_, false);
      throw;
    }
  }
  NetworkFaultRun(const NetworkFaultRun&) = delete;
  NetworkFaultRun& operator=(const NetworkFaultRun&) = delete;
  ~NetworkFaultRun() {
    try {
      cleanup_docker(run_id_, false);
    } catch (const std::exception& error) {
      ADD_FAILURE() << "cleanup of " << run_id_ << " failed: " << error.what();
    }
    std::error_code ignored;
    std::filesystem::remove(events_path_, ignored);
  }

  void start_services() {
    runtime.create_network();
    ContainerSpec db;
    db.service = "db";
    db.image = "firedrill/postgres:15";
    db.env = {fmt::format("POSTGRES_PASSWORD={}", password)};
    db.ports = {5432};
    ContainerSpec cache;
    cache.service = "cache";
    cache.image = "firedrill/redis:7";
    cache.ports = {6379};
    ContainerSpec app;
    app.service = "app";
    app.image = "firedrill/app:latest";
    app.env = {fmt::format("DATABASE_URL=postgresql://postgres:{}@db:5432/postgres", password),
               "REDIS_URL=redis://cache:6379"};
    app.ports = {8080};
    db_port = runtime.start(db).host_ports.at(5432);
    runtime.start(cache);
    app_port = runtime.start(app).host_ports.at(8080);
    std::string body;
    healthy = eventually([&] { return http_get(app_port, "/health", body) == 200; }, 90s, 500ms);
  }

  const std::string& run_id() const { return run_id_; }

  /// A context whose journal keeps the inverses in `journalled` and the reverted ids in `reverted`.
  FaultContext context() {
    return FaultContext{runtime, events_,
                        [this](const nlohmann::json& inverse) {
                          journalled.push_back(inverse);
                          return std::to_string(journalled.size());
                        },
                        [this](const std::string& id) { reverted.push_back(id); }, {}};
  }

  /// Whether a TCP connection from inside the service's network reaches host:port within 2 s.
  bool tcp_connects(const std::string& from, const std::string& host, int port) {
    const auto result = runtime.exec_in_network_namespace(
        from, {"timeout", "2", "bash", "-c", fmt::format("exec 3<>/dev/tcp/{}/{}", host, port)}, 10s);
    return result.exit_code == 0;
  }

  /// Whether the harness reaches Postgres through its published port (what psql would do).
  bool host_reaches_db() const {
    try {
      pqxx::connection connection(fmt::format(
          "host=127.0.0.1 port={} user=postgres password={} dbname=postgres connect_timeout=2", db_port, password));
      pqxx::nontransaction query(connection);
      return query.exec1("SELECT 1")[0].as<int>() == 1;
    } catch (const std::exception&) {
      return false;
    }
  }

  bool has_firedrill_chain(const std::string& service) {
    return netfilter::rule_listing(runtime, service).find(netfilter::chain_prefix) != std::string::npos;
  }

  DockerRuntime runtime;
  int db_port = 0;
  int app_port = 0;
  bool healthy = false;
  std::vector<nlohmann::json> journalled;
  std::vector<std::string> reverted;

 private:
  std::string run_id_;
  SteadyAnchoredClock clock_;
  std::filesystem::path events_path_;
  EventLog events_;
};

/// A fault step as the loader would produce it.
inline StepSpec fault_step(const std::string& fault, const std::string& target, const Params& params) {
  StepSpec step;
  step.name = fault + " test";
  step.verb = StepVerb::fault;
  step.what = fault;
  step.target = target;
  step.params = params;
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

inline ParamValue list(std::vector<std::string> items) {
  ParamValue value;
  value.items = std::move(items);
  value.is_list = true;
  return value;
}

/// One shared run (db, cache, app) per test suite: starting it costs seconds, and every test
/// reverts what it did. Without an engine the tests skip, or fail when CI is set.
class NetworkFaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string missing = missing_environment();
    if (!missing.empty()) {
      skip_reason_ = new std::string(missing);
      return;
    }
    run_ = new NetworkFaultRun();
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
    ASSERT_TRUE(run_->healthy) << "the app never became healthy";
  }

  static inline NetworkFaultRun* run_ = nullptr;
  static inline std::string* skip_reason_ = nullptr;
};

}  // namespace firedrill::netfault_testing
