#pragma once
// A Runtime that runs nothing: it records every call, so the engine's logic (ordering, faults
// reverted, teardown on every path) is unit-tested without a container engine.
#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "harness/runtime/runtime.hpp"

namespace firedrill {

class FakeRuntime final : public Runtime,
                          public ProcessControl,
                          public NetworkNamespaces,
                          public FileAccess,
                          public Storage {
 public:
  std::string name() const override { return "fake"; }

  void begin_run(const std::string& run_id, const std::string&, const Owner&, BeforeCreate before_create) override {
    run_id_ = run_id;
    before_create_ = std::move(before_create);
    record("begin_run");
  }
  ContainerInfo start(const ContainerSpec& spec) override {
    if (fail_start_of == spec.service) throw EnvironmentError(fail_start_message);
    if (!network_created_) {
      network_created_ = true;
      if (before_create_) before_create_("network", "fd-" + run_id_);
      record("create_network");
    }
    if (before_create_) before_create_("container", "fd-" + run_id_ + "-" + spec.service);
    record("start " + spec.service);
    std::lock_guard lock(mutex_);
    running_.insert(spec.service);
    return info(spec.service);
  }
  ContainerInfo inspect(const std::string& service) override { return info(service); }
  ExecResult exec(const std::string& service, const std::vector<std::string>&, std::chrono::milliseconds) override {
    record("exec " + service);
    return {0, ""};
  }
  ExecResult exec_in_network_namespace(const std::string& service, const std::vector<std::string>&,
                                       std::chrono::milliseconds) override {
    record("exec_in_network_namespace " + service);
    return {0, ""};
  }
  std::string source_address(const std::string&) override { return ""; }
  void kill(const std::string& service, const std::string& signal) override {
    record("kill " + service + " " + signal);
    std::lock_guard lock(mutex_);
    running_.erase(service);
  }
  void pause(const std::string& service) override { record("pause " + service); }
  void unpause(const std::string& service) override { record("unpause " + service); }
  void start_again(const std::string& service) override {
    record("start_again " + service);
    std::lock_guard lock(mutex_);
    running_.insert(service);
  }
  void restart(const std::string& service, std::chrono::seconds) override { record("restart " + service); }
  bool is_running(const std::string& service) override {
    std::lock_guard lock(mutex_);
    return running_.count(service) != 0;
  }
  std::string read_logs(const std::string& service, std::optional<int> last_lines) override {
    if (!last_lines) ++whole_log_reads;
    if (!log_of) return "log of " + service + "\n";
    return last_lines ? tail_lines(log_of(service), *last_lines) : log_of(service);
  }
  void teardown() override { record("teardown"); }
  ConfinedPath host_path(const std::string& service, const std::string&) override {
    throw EnvironmentError("the fake runtime keeps no files of '" + service + "'");
  }
  void copy_from(const std::string& service, const std::string&, const std::filesystem::path&) override {
    throw EnvironmentError("the fake runtime keeps no files of '" + service + "'");
  }
  void copy_to(const std::string& service, const std::filesystem::path&, const std::string&) override {
    throw EnvironmentError("the fake runtime keeps no files of '" + service + "'");
  }
  std::filesystem::path size_limited_mount(const std::string& service) override {
    throw EnvironmentError("the fake runtime gives '" + service + "' no size-limited filesystem");
  }
  void remove(const std::string& service) override { record("remove " + service); }
  void destroy(const std::string& service) override { record("destroy " + service); }

  std::vector<std::string> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

  /// What a service's log holds when a test says (it may grow as the test's clock advances).
  std::function<std::string(const std::string& service)> log_of;
  /// How often logs() (the whole log, not its last lines) was read.
  std::atomic<int> whole_log_reads{0};
  /// start() of this service fails as an environment error (an image missing, say).
  std::string fail_start_of;
  /// What that failure says (a real one may quote a container's log, any bytes at all).
  std::string fail_start_message = "image 'missing' is not present";

 private:
  void record(const std::string& call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(call);
  }
  ContainerInfo info(const std::string& service) const {
    return {"id-" + service, "fd-" + run_id_ + "-" + service, "sha256:fake", "198.18.1.2", "198.18.1.1", {}};
  }

  mutable std::mutex mutex_;
  std::vector<std::string> calls_;
  std::set<std::string> running_;
  std::string run_id_;
  BeforeCreate before_create_;
  bool network_created_ = false;
};

}  // namespace firedrill
