#include "injectors/latency.hpp"
#include "injectors/registry.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

std::vector<NetworkPath> proxied_paths(const Scenario& scenario, bool faults_on_proxies = false) {
  return paths_needing_proxies(scenario, Vocabulary{fault_specs(), {}, {}}, faults_on_proxies);
}

StepSpec latency_step(const std::string& target, const std::string& towards, const std::string& via = "") {
  StepSpec step;
  step.name = "slow";
  step.verb = StepVerb::fault;
  step.what = "latency";
  step.target = target;
  step.params["towards"].text = towards;
  step.params["delay"].text = "200ms";
  step.params["delay"].duration = std::chrono::milliseconds(200);
  if (!via.empty()) step.params["via"].text = via;
  return step;
}

TEST(Latency, NetemDelaysOnlyTheTrafficToThePeerThroughItsOwnBand) {
  auto commands = netem_commands("eth0", "198.18.4.3", std::chrono::milliseconds(200), std::chrono::milliseconds(20));
  ASSERT_EQ(commands.size(), 3u);
  EXPECT_EQ(commands[0], "tc qdisc add dev eth0 root handle 1: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1");
  EXPECT_EQ(commands[1], "tc qdisc add dev eth0 parent 1:4 handle 40: netem delay 200.000ms 20.000ms");
  EXPECT_EQ(commands[2], "tc filter add dev eth0 parent 1:0 protocol ip prio 1 u32 match ip dst 198.18.4.3/32 flowid 1:4");
  EXPECT_EQ(netem_commands("eth0", "198.18.4.3", std::chrono::microseconds(1500), Duration{0})[1],
            "tc qdisc add dev eth0 parent 1:4 handle 40: netem delay 1.500ms");
}

TEST(Latency, NetworkPathsAreTheLatencyStepsNetemDoesNotServeEachOnce) {
  Scenario scenario;
  scenario.steps = {latency_step("app", "db", "proxy"), latency_step("app", "db", "proxy"),
                    latency_step("app", "cache", "netem"), latency_step("worker", "db", "proxy")};
  StepSpec other;
  other.verb = StepVerb::fault;
  other.what = "loss";
  other.target = "app";
  scenario.steps.push_back(other);
  auto paths = proxied_paths(scenario);
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0], (NetworkPath{"app", "db"}));
  EXPECT_EQ(paths[1], (NetworkPath{"worker", "db"}));
}

TEST(Latency, WhereNetworkFaultsActOnProxiesEveryLatencyAndPartitionPathGetsOne) {
  Scenario scenario;
  for (const char* name : {"db", "cache", "app"}) {
    ServiceSpec service;
    service.name = name;
    scenario.services.push_back(service);
  }
  StepSpec cut;
  cut.verb = StepVerb::fault;
  cut.what = "partition";
  cut.params["between"].is_list = true;
  cut.params["between"].items = {"app", "db"};
  StepSpec isolate = cut;
  isolate.params.clear();
  isolate.params["isolate"].text = "cache";
  scenario.steps = {latency_step("app", "db", "netem"), cut, isolate};
  EXPECT_EQ(proxied_paths(scenario, true),
            (std::vector<NetworkPath>{{"app", "db"}, {"db", "app"}, {"cache", "db"}, {"db", "cache"}, {"cache", "app"},
                                      {"app", "cache"}}));
  EXPECT_TRUE(proxied_paths(scenario).empty());
}

TEST(Latency, WithoutViaTheKernelDecides) {
  EXPECT_EQ(latency_via(latency_step("app", "db")), kernel_has_netem() ? LatencyVia::netem : LatencyVia::proxy);
  EXPECT_EQ(latency_via(latency_step("app", "db", "proxy")), LatencyVia::proxy);
  EXPECT_EQ(latency_via(latency_step("app", "db", "netem")), LatencyVia::netem);
}

TEST(Latency, ParametersThatCannotWorkAreRefusedWithTheReason) {
  auto bad_via = latency_step("app", "db", "carrier-pigeon");
  EXPECT_THROW(LatencyInjector::check_params(bad_via), std::invalid_argument);
  auto to_itself = latency_step("app", "app");
  EXPECT_THROW(LatencyInjector::check_params(to_itself), std::invalid_argument);
  auto wide_jitter = latency_step("app", "db");
  wide_jitter.params["jitter"].text = "300ms";
  wide_jitter.params["jitter"].duration = std::chrono::milliseconds(300);
  try {
    LatencyInjector::check_params(wide_jitter);
    FAIL() << "a jitter wider than the delay was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "step 'slow': latency 'jitter' must not exceed 'delay'");
  }
  EXPECT_NO_THROW(LatencyInjector::check_params(latency_step("app", "db", "proxy")));
}

}  // namespace
}  // namespace firedrill
