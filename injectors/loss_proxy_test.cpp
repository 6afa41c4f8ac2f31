#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "checks/history.hpp"
#include "core/clock.hpp"
#include "harness/runtime/process/process_runtime.hpp"
#include "injectors/latency.hpp"
#include "injectors/loss.hpp"
#include "injectors/proxy/fault_proxy.hpp"
#include "injectors/proxy/loopback_echo_server.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using Path = NetworkPath;

/// Whether 4 bytes sent through `port` come back within `timeout`.
bool echoes_within(std::uint16_t port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool echoed = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
      ::send(fd, "ping", 4, MSG_NOSIGNAL) == 4) {
    char reply[4];
    std::size_t got = 0;
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    while (got < sizeof reply) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
      pollfd entry{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&entry, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(fd, reply + got, sizeof reply - got, 0);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    echoed = got == sizeof reply;
  }
  ::close(fd);
  return echoed;
}

StepSpec loss_step(const std::string& target, const std::string& percent, const std::string& towards = "",
                   const std::string& seed = "") {
  StepSpec step;
  step.name = "lossy";
  step.verb = StepVerb::fault;
  step.what = "loss";
  step.target = target;
  step.params["percent"].text = percent;
  step.params["percent"].number = std::stod(percent);
  if (!towards.empty()) step.params["towards"].text = towards;
  if (!seed.empty()) step.params["seed"].text = seed;
  return step;
}

/// The process runtime's side of a drill without its services: one fault proxy per path, each in
/// front of a loopback echo server standing in for the peer.
class LossThroughProxies : public ::testing::Test {
 protected:
  LossThroughProxies()
      : directory_(std::filesystem::temp_directory_path() /
                   ("firedrill-loss-proxy-" + std::to_string(::getpid()))),
        runtime_(directory_),
        events_((std::filesystem::create_directories(directory_), directory_ / "events.jsonl"), clock_) {}
  ~LossThroughProxies() override {
    for (auto& [path, proxy] : proxies_) proxy->stop();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }

  void place_proxies(const std::vector<Path>& paths) {
    for (const auto& path : paths) {
      auto proxy = std::make_unique<FaultProxy>("127.0.0.1", 0, "127.0.0.1", echo_.port());
      proxy->start();
      proxies_.emplace(path, std::move(proxy));
    }
  }

  FaultProxy& proxy(const std::string& client, const std::string& peer) { return *proxies_.at({client, peer}); }

  FaultContext context() {
    return FaultContext{
        runtime_,
        events_,
        [this](const nlohmann::json& inverse) {
          journalled_.push_back(inverse);
          return "entry-" + std::to_string(journalled_.size());
        },
        [this](const std::string& id) { reverted_.push_back(id); },
        directory_,
        [this](const std::string& client, const std::string& peer) -> FaultProxy* {
          auto found = proxies_.find({client, peer});
          return found == proxies_.end() ? nullptr : found->second.get();
        },
        [this] {
          std::vector<Path> paths;
          for (const auto& [path, proxy] : proxies_) paths.push_back(path);
          return paths;
        }};
  }

  std::filesystem::path directory_;
  ProcessRuntime runtime_;
  SteadyAnchoredClock clock_;
  EventLog events_;
  LoopbackEchoServer echo_;
  std::map<Path, std::unique_ptr<FaultProxy>> proxies_;
  std::vector<nlohmann::json> journalled_;
  std::vector<std::string> reverted_;
};

TEST_F(LossThroughProxies, TowardsAPeerOnlyThePathsBetweenThemLose) {
  place_proxies({{"app", "db"}, {"db", "app"}, {"app", "cache"}, {"worker", "db"}});
  ASSERT_TRUE(takes_network_faults_on_proxies(runtime_));
  auto context = this->context();
  LossInjector injector;
  auto fault = injector.inject(context, loss_step("app", "100", "db"));

  EXPECT_EQ(proxy("app", "db").faults().loss, 1.0);
  EXPECT_EQ(proxy("db", "app").faults().loss, 1.0);
  EXPECT_EQ(proxy("app", "cache").faults().loss, 0.0);
  EXPECT_EQ(proxy("worker", "db").faults().loss, 0.0);
  EXPECT_FALSE(echoes_within(proxy("app", "db").port(), 300ms)) << "bytes crossed a 100% loss";
  EXPECT_TRUE(echoes_within(proxy("app", "cache").port(), 1000ms));
  EXPECT_TRUE(echoes_within(proxy("worker", "db").port(), 1000ms));

  const auto described = fault->describe();
  EXPECT_EQ(described["via"], "proxy");
  EXPECT_EQ(described["percent"], 100.0);
  EXPECT_EQ(described["towards"], "db");
  EXPECT_EQ(described["paths"], nlohmann::json::array({"app->db", "db->app"}));
  ASSERT_EQ(journalled_.size(), 1u);
  EXPECT_EQ(journalled_[0]["type"], "proxy");
  EXPECT_EQ(journalled_[0]["fault"], "loss");

  fault->revert();
  fault->revert();
  EXPECT_EQ(reverted_, std::vector<std::string>{"entry-1"});
  EXPECT_EQ(proxy("app", "db").faults().loss, 0.0);
  EXPECT_EQ(proxy("db", "app").faults().loss, 0.0);
  EXPECT_TRUE(echoes_within(proxy("app", "db").port(), 1000ms));
}

TEST_F(LossThroughProxies, WithoutAPeerEveryPathToOrFromTheTargetLoses) {
  place_proxies({{"app", "db"}, {"db", "app"}, {"app", "cache"}, {"worker", "db"}});
  auto context = this->context();
  LossInjector injector;
  auto fault = injector.inject(context, loss_step("app", "20"));
  EXPECT_EQ(proxy("app", "db").faults().loss, 0.2);
  EXPECT_EQ(proxy("db", "app").faults().loss, 0.2);
  EXPECT_EQ(proxy("app", "cache").faults().loss, 0.2);
  EXPECT_EQ(proxy("worker", "db").faults().loss, 0.0);
  EXPECT_FALSE(fault->describe().contains("towards"));
  fault->revert();
  for (const auto& [path, placed] : proxies_) EXPECT_EQ(placed->faults().loss, 0.0) << path.client << "->" << path.peer;
}

TEST_F(LossThroughProxies, ALatencyOnTheSameProxyStaysThroughTheLossAndItsRevert) {
  place_proxies({{"app", "db"}});
  proxy("app", "db").set_faults({.latency = 100ms, .direction = Direction::upstream_only});
  auto context = this->context();
  LossInjector injector;
  auto fault = injector.inject(context, loss_step("app", "20", "db", "5"));

  auto during = proxy("app", "db").faults();
  EXPECT_EQ(during.latency, 100ms);
  EXPECT_EQ(during.direction, Direction::upstream_only);
  EXPECT_EQ(during.loss, 0.2);
  EXPECT_EQ(during.loss_direction, Direction::both);
  EXPECT_EQ(fault->describe()["seed"], 5u);

  fault->revert();
  const auto after = proxy("app", "db").faults();
  EXPECT_EQ(after.latency, 100ms);
  EXPECT_EQ(after.direction, Direction::upstream_only);
  EXPECT_EQ(after.loss, 0.0);
}

TEST_F(LossThroughProxies, WithoutAProxiedPathItIsRefusedNamingTheRuntime) {
  place_proxies({{"worker", "db"}});
  auto context = this->context();
  LossInjector injector;
  try {
    injector.inject(context, loss_step("app", "20", "db"));
    FAIL() << "no error";
  } catch (const EnvironmentError& error) {
    EXPECT_NE(std::string(error.what()).find("the process runtime loses packets on the fault proxies"), std::string::npos)
        << error.what();
  }
  EXPECT_TRUE(journalled_.empty());
}

TEST(LossSpec, ASeedMustBeAWholeNumber) {
  const auto check = LossInjector::spec().check_combination;
  ASSERT_TRUE(check);
  EXPECT_NO_THROW(check(loss_step("app", "20", "db", "18446744073709551615")));
  EXPECT_NO_THROW(check(loss_step("app", "20")));
  EXPECT_THROW(check(loss_step("app", "20", "db", "-1")), std::invalid_argument);
  EXPECT_THROW(check(loss_step("app", "20", "db", "7x")), std::invalid_argument);
}

TEST(LossSpec, WhereNetworkFaultsActOnProxiesTheLossPathsGetThemBothWays) {
  Scenario scenario;
  for (const char* name : {"db", "cache", "app"}) {
    ServiceSpec service;
    service.name = name;
    scenario.services.push_back(service);
  }
  scenario.steps = {loss_step("app", "20", "db")};
  const Vocabulary vocabulary{fault_specs(), {}, {}};
  EXPECT_EQ(paths_needing_proxies(scenario, vocabulary, true), (std::vector<NetworkPath>{{"app", "db"}, {"db", "app"}}));
  scenario.steps = {loss_step("cache", "20")};
  EXPECT_EQ(paths_needing_proxies(scenario, vocabulary, true),
            (std::vector<NetworkPath>{{"cache", "db"}, {"db", "cache"}, {"cache", "app"}, {"app", "cache"}}));
  EXPECT_TRUE(paths_needing_proxies(scenario, vocabulary, false).empty()) << "iptables serves loss where it can";
}

}  // namespace
}  // namespace firedrill
