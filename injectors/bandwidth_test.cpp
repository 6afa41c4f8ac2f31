// The bandwidth fault's parameters, the tc commands it runs, the paths it declares, and its cap on
// the fault proxies observed from outside: a transfer through the shaped path takes as long as the
// rate says, and as long as nothing once reverted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "harness/runtime/process/process_runtime.hpp"
#include "injectors/bandwidth.hpp"
#include "injectors/netem.hpp"
#include "injectors/proxy/fault_proxy.hpp"
#include "injectors/proxy/loopback_echo_server.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;

StepSpec bandwidth_step(const std::string& target, const std::string& towards, const std::string& rate,
                        const std::string& via = "", const std::string& burst = "") {
  StepSpec step;
  step.name = "starved";
  step.verb = StepVerb::fault;
  step.what = "bandwidth";
  step.target = target;
  step.params["towards"].text = towards;
  step.params["rate"].text = rate;
  if (!via.empty()) step.params["via"].text = via;
  if (!burst.empty()) step.params["burst"].text = burst;
  return step;
}

TEST(BandwidthParams, RatesAreBitsOrBytesPerSecondInStepsOfAThousand) {
  EXPECT_EQ(bandwidth::bytes_per_second("1mbit"), 125000.0);
  EXPECT_EQ(bandwidth::bytes_per_second("500kbit"), 62500.0);
  EXPECT_EQ(bandwidth::bytes_per_second("10Mbit"), 1250000.0);
  EXPECT_EQ(bandwidth::bytes_per_second("64kbps"), 64000.0);
  EXPECT_EQ(bandwidth::bytes_per_second("1.5gbit"), 187500000.0);
  EXPECT_EQ(bandwidth::bytes_per_second("800bit"), 100.0);
  for (const char* wrong : {"", "1000", "mbit", "1 mbit", "-1mbit", "0kbit", "1mbits", "1e3kbit", "1..2mbit"})
    EXPECT_FALSE(bandwidth::bytes_per_second(wrong)) << wrong;
  EXPECT_EQ(bandwidth::size_in_bytes("32kb"), 32768.0);
  EXPECT_EQ(bandwidth::size_in_bytes("1500"), 1500.0);
  EXPECT_EQ(bandwidth::size_in_bytes("1mb"), 1048576.0);
  EXPECT_FALSE(bandwidth::size_in_bytes("32kbit"));
  EXPECT_EQ(bandwidth::default_burst_bytes(125000), 4096.0);
  EXPECT_EQ(bandwidth::default_burst_bytes(1250000), 25000.0);
}

TEST(BandwidthParams, ParametersThatCannotWorkAreRefusedWithTheReason) {
  EXPECT_NO_THROW(BandwidthInjector::check_params(bandwidth_step("db", "db-standby-1", "1mbit")));
  EXPECT_NO_THROW(BandwidthInjector::check_params(bandwidth_step("db", "app", "64kbps", "proxy", "16kb")));
  try {
    BandwidthInjector::check_params(bandwidth_step("db", "app", "1000"));
    FAIL() << "a rate without a unit was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(),
                 "step 'starved': bandwidth 'rate' must be a number and a unit like 1mbit, 500kbit or 64kbps, not '1000'");
  }
  EXPECT_THROW(BandwidthInjector::check_params(bandwidth_step("db", "db", "1mbit")), std::invalid_argument);
  EXPECT_THROW(BandwidthInjector::check_params(bandwidth_step("db", "app", "1mbit", "netem")), std::invalid_argument);
  EXPECT_THROW(BandwidthInjector::check_params(bandwidth_step("db", "app", "1mbit", "", "100b")), std::invalid_argument);
  EXPECT_THROW(BandwidthInjector::check_params(bandwidth_step("db", "app", "1mbit", "", "lots")), std::invalid_argument);
}

TEST(BandwidthRules, TheCapIsAnHtbClassOnlyThePeersAddressReaches) {
  const auto commands = rate_limit_commands("eth0", "198.18.4.3", 125000, 4096);
  ASSERT_EQ(commands.size(), 4u);
  EXPECT_EQ(commands[0], "tc qdisc add dev eth0 root handle 1: htb direct_qlen 1000");
  EXPECT_EQ(commands[1], "tc class add dev eth0 parent 1: classid 1:10 htb rate 1000000bit ceil 1000000bit burst 4096b cburst 4096b");
  EXPECT_EQ(commands[2], "tc qdisc add dev eth0 parent 1:10 handle 10: pfifo limit 1000");
  EXPECT_EQ(commands[3], "tc filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 198.18.4.3/32 flowid 1:10");
  EXPECT_NE(netem_removal("eth0").find("htb"), std::string::npos) << "a removal that left the htb would pass";
}

TEST(BandwidthRules, WithoutViaTheKernelDecides) {
  EXPECT_EQ(bandwidth_via(bandwidth_step("db", "app", "1mbit")),
            kernel_has_rate_limit() ? BandwidthVia::tc : BandwidthVia::proxy);
  EXPECT_EQ(bandwidth_via(bandwidth_step("db", "app", "1mbit", "proxy")), BandwidthVia::proxy);
  EXPECT_EQ(bandwidth_via(bandwidth_step("db", "app", "1mbit", "tc")), BandwidthVia::tc);
}

TEST(BandwidthRegistry, DeclaresThePathsBothWaysAndNeedsNothingOfTheRuntime) {
  const auto& entry = fault_registry().at("bandwidth");
  EXPECT_FALSE(entry.spec.needs);
  Scenario scenario;
  scenario.steps = {bandwidth_step("db", "db-standby-1", "1mbit", "proxy")};
  const Vocabulary vocabulary{fault_specs(), {}, {}};
  EXPECT_EQ(paths_needing_proxies(scenario, vocabulary, false),
            (std::vector<NetworkPath>{{"db", "db-standby-1"}, {"db-standby-1", "db"}}))
      << "via: proxy places them on every runtime";
  scenario.steps = {bandwidth_step("db", "db-standby-1", "1mbit", "tc")};
  EXPECT_TRUE(paths_needing_proxies(scenario, vocabulary, false).empty());
  EXPECT_EQ(paths_needing_proxies(scenario, vocabulary, true).size(), 2u);
}

/// Bytes sent through `port` and echoed back, timed from the first byte sent to the last received.
double echo_seconds(std::uint16_t port, std::size_t bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  const std::string payload(bytes, 'x');
  const auto started = std::chrono::steady_clock::now();
  std::thread sender([&] {
    std::size_t sent = 0;
    while (sent < payload.size()) {
      const ssize_t n = ::send(fd, payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<std::size_t>(n);
    }
  });
  std::size_t received = 0;
  char buffer[65536];
  const auto give_up = started + 30s;
  while (received < bytes && std::chrono::steady_clock::now() < give_up) {
    pollfd entry{fd, POLLIN, 0};
    if (::poll(&entry, 1, 1000) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    received += static_cast<std::size_t>(n);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ::shutdown(fd, SHUT_RDWR);
  sender.join();
  ::close(fd);
  return received == bytes ? seconds : -1;
}

/// The process runtime's side of a drill without its services: the fault proxy the engine places
/// where the standby reaches its primary, in front of a loopback echo server.
class BandwidthThroughProxies : public ::testing::Test {
 protected:
  BandwidthThroughProxies()
      : directory_(std::filesystem::temp_directory_path() / ("firedrill-bandwidth-proxy-" + std::to_string(::getpid()))),
        runtime_(directory_),
        events_((std::filesystem::create_directories(directory_), directory_ / "events.jsonl"), clock_),
        proxy_("127.0.0.1", 0, "127.0.0.1", echo_.port()) {
    proxy_.start();
  }
  ~BandwidthThroughProxies() override {
    proxy_.stop();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  FaultContext context() {
    return FaultContext{runtime_,
                        events_,
                        [this](const nlohmann::json& inverse) {
                          journalled_.push_back(inverse);
                          return "entry-" + std::to_string(journalled_.size());
                        },
                        [this](const std::string& id) { reverted_.push_back(id); },
                        directory_,
                        [this](const std::string& client, const std::string& peer) -> FaultProxy* {
                          return client == "db-standby-1" && peer == "db" ? &proxy_ : nullptr;
                        },
                        [] { return std::vector<NetworkPath>{{"db-standby-1", "db"}}; }};
  }

  std::filesystem::path directory_;
  ProcessRuntime runtime_;
  SteadyAnchoredClock clock_;
  EventLog events_;
  LoopbackEchoServer echo_;
  FaultProxy proxy_;
  std::vector<nlohmann::json> journalled_;
  std::vector<std::string> reverted_;
};

TEST_F(BandwidthThroughProxies, WhatThePrimarySendsItsStandbyPassesAtTheRateUntilReverted) {
  ASSERT_TRUE(takes_network_faults_on_proxies(runtime_));
  auto context = this->context();
  BandwidthInjector injector;
  // The standby connects to the primary: what the primary sends is the path's downstream.
  auto fault = injector.inject(context, bandwidth_step("db", "db-standby-1", "2mbit"));
  const ProxyFaults during = proxy_.faults();
  ASSERT_TRUE(during.bandwidth_bytes_per_second);
  EXPECT_EQ(*during.bandwidth_bytes_per_second, 250000.0);
  EXPECT_EQ(during.bandwidth_direction, Direction::downstream_only);
  EXPECT_EQ(during.direction, Direction::both) << "latency's direction is not the cap's";
  ASSERT_EQ(journalled_.size(), 1u);
  EXPECT_EQ(journalled_[0]["type"], "proxy");
  EXPECT_EQ(journalled_[0]["fault"], "bandwidth");

  // 500 kB at 250 kB/s: 2 s, less the bucket's first 5 kB.
  const double shaped = echo_seconds(proxy_.port(), 500'000);
  const double rate = 500'000 / shaped;
  EXPECT_GT(rate, 250'000 * 0.85) << shaped << " s";
  EXPECT_LT(rate, 250'000 * 1.10) << shaped << " s";

  const auto described = fault->describe();
  EXPECT_EQ(described["via"], "proxy");
  EXPECT_EQ(described["rate"], "2mbit");
  EXPECT_EQ(described["bytes_per_second"], 250000.0);
  EXPECT_EQ(described["burst_bytes"], 5000.0);
  EXPECT_EQ(described["paths"], nlohmann::json::array({"db-standby-1->db"}));
  EXPECT_FALSE(described.contains("replication_lag")) << "no Postgres answered here";

  fault->revert();
  fault->revert();
  EXPECT_EQ(reverted_, std::vector<std::string>{"entry-1"});
  EXPECT_FALSE(proxy_.faults().bandwidth_bytes_per_second);
  const double unshaped = echo_seconds(proxy_.port(), 500'000);
  EXPECT_GT(unshaped, 0);
  EXPECT_LT(unshaped, 0.5) << "the cap outlived its revert";
}

TEST_F(BandwidthThroughProxies, ALatencyOnTheSameProxyStaysThroughTheCapAndItsRevert) {
  proxy_.set_faults({.latency = 50ms, .direction = Direction::upstream_only});
  auto context = this->context();
  auto fault = BandwidthInjector().inject(context, bandwidth_step("db", "db-standby-1", "1mbit", "proxy", "32kb"));
  EXPECT_EQ(proxy_.faults().latency, 50ms);
  EXPECT_EQ(*proxy_.faults().bandwidth_burst_bytes, 32768.0);
  fault->revert();
  EXPECT_EQ(proxy_.faults().latency, 50ms);
  EXPECT_EQ(proxy_.faults().direction, Direction::upstream_only);
  EXPECT_FALSE(proxy_.faults().bandwidth_burst_bytes);
}

TEST_F(BandwidthThroughProxies, WithoutAProxiedPathItIsRefusedBeforeAnythingIsJournalled) {
  auto context = this->context();
  try {
    BandwidthInjector().inject(context, bandwidth_step("app", "cache", "1mbit"));
    FAIL() << "no error";
  } catch (const EnvironmentError& error) {
    EXPECT_NE(std::string(error.what()).find("needs a path between 'app' and 'cache'"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(journalled_.empty());
}

}  // namespace
}  // namespace firedrill
