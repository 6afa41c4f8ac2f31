#include "injectors/partition.hpp"

#include <unistd.h>

#include <thread>

#include "injectors/netfilter_test.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using netfault_testing::eventually;
using netfault_testing::fault_step;
using netfault_testing::http_get;
using netfault_testing::list;
using netfault_testing::NetworkFaultRun;
using netfault_testing::scalar;

TEST(PartitionParams, RefuseNeitherOrBothOfIsolateAndBetween) {
  EXPECT_THROW(PartitionInjector::check_params(fault_step("partition", "", {})), std::invalid_argument);
  EXPECT_THROW(PartitionInjector::check_params(
                   fault_step("partition", "", {{"isolate", scalar("db")}, {"between", list({"app", "db"})}})),
               std::invalid_argument);
  EXPECT_NO_THROW(PartitionInjector::check_params(fault_step("partition", "", {{"isolate", scalar("db")}})));
}

TEST(PartitionParams, RefuseAPairThatIsNotTwoServicesAndMisplacedFlags) {
  EXPECT_THROW(PartitionInjector::check_params(fault_step("partition", "", {{"between", list({"app"})}})),
               std::invalid_argument);
  EXPECT_THROW(PartitionInjector::check_params(fault_step("partition", "", {{"between", list({"db", "db"})}})),
               std::invalid_argument);
  EXPECT_THROW(PartitionInjector::check_params(
                   fault_step("partition", "", {{"isolate", scalar("db")}, {"one_way", scalar("true")}})),
               std::invalid_argument);
  EXPECT_THROW(PartitionInjector::check_params(fault_step(
                   "partition", "", {{"between", list({"app", "db"})}, {"include_clients", scalar("true")}})),
               std::invalid_argument);
  try {
    PartitionInjector::check_params(fault_step("partition", "", {}));
  } catch (const std::invalid_argument& error) {
    EXPECT_STREQ(error.what(), "step 'partition test': partition needs exactly one of 'isolate: SERVICE' or 'between: [A, B]'");
  }
}

TEST(PartitionRegistry, IsRegisteredWithoutATarget) {
  const auto& registry = fault_registry();
  ASSERT_TRUE(registry.count("partition"));
  EXPECT_FALSE(registry.at("partition").spec.needs_target);
  ASSERT_TRUE(registry.count("loss"));
  EXPECT_TRUE(registry.at("loss").spec.needs_target);
}

class PartitionTest : public netfault_testing::NetworkFaultTest {};

TEST_F(PartitionTest, BetweenAppAndDbFailsPostgresButNotRedisUntilReverted) {
  auto context = run_->context();
  PartitionInjector injector;
  auto fault = injector.inject(context, fault_step("partition", "", {{"between", list({"app", "db"})}}));
  ASSERT_EQ(run_->journalled.size(), 1u);
  EXPECT_EQ(run_->journalled.back().value("type", ""), "netfilter");
  EXPECT_EQ(run_->journalled.back().value("service", ""), "app");

  std::string body;
  int status = 0;
  EXPECT_TRUE(eventually([&] { return (status = http_get(run_->app_port, "/health", body)) == 503; }, 10s))
      << status << " " << body;
  const auto health = nlohmann::json::parse(body, nullptr, false);
  EXPECT_NE(health.value("postgres", ""), "ok") << body;
  EXPECT_EQ(health.value("redis", ""), "ok") << body;
  EXPECT_TRUE(run_->has_firedrill_chain("app"));

  fault->revert();
  fault->revert();  // idempotent
  EXPECT_EQ(run_->reverted, std::vector<std::string>{"1"});
  EXPECT_TRUE(eventually([&] { return (status = http_get(run_->app_port, "/health", body)) == 200; }, 30s))
      << status << " " << body;
  EXPECT_FALSE(run_->has_firedrill_chain("app")) << netfilter::rule_listing(run_->runtime, "app");
}

TEST_F(PartitionTest, IsolateCutsDbFromCacheButNotFromTheHarnessByDefault) {
  const std::string db = netfilter::address_of(run_->runtime, "db");
  ASSERT_TRUE(run_->tcp_connects("cache", db, 5432));
  auto context = run_->context();
  PartitionInjector injector;
  auto fault = injector.inject(context, fault_step("partition", "", {{"isolate", scalar("db")}}));

  EXPECT_FALSE(run_->tcp_connects("cache", db, 5432));
  EXPECT_FALSE(run_->tcp_connects("db", netfilter::address_of(run_->runtime, "cache"), 6379));
  EXPECT_TRUE(run_->host_reaches_db()) << "include_clients is false: the published port must still work";

  fault->revert();
  EXPECT_TRUE(run_->tcp_connects("cache", db, 5432));
  EXPECT_FALSE(run_->has_firedrill_chain("db"));
}

TEST_F(PartitionTest, IsolateWithClientsAlsoCutsThePublishedPort) {
  ASSERT_TRUE(run_->host_reaches_db());
  auto context = run_->context();
  PartitionInjector injector;
  auto fault = injector.inject(
      context, fault_step("partition", "", {{"isolate", scalar("db")}, {"include_clients", scalar("true")}}));
  EXPECT_FALSE(run_->host_reaches_db());
  fault->revert();
  EXPECT_TRUE(eventually([&] { return run_->host_reaches_db(); }, 10s));
  EXPECT_FALSE(run_->has_firedrill_chain("db"));
}

TEST_F(PartitionTest, OneWayDropsAToBButLetsBToAArrive) {
  const std::string app = netfilter::address_of(run_->runtime, "app");
  const std::string db = netfilter::address_of(run_->runtime, "db");
  auto context = run_->context();
  PartitionInjector injector;
  auto fault = injector.inject(
      context, fault_step("partition", "", {{"between", list({"app", "db"})}, {"one_way", scalar("true")}}));

  EXPECT_FALSE(run_->tcp_connects("app", db, 5432));
  // db's SYN reaches the app (b→a flows), the app's SYN-ACK is dropped (a→b): the app holds a
  // half-open connection from db while db's connect times out.
  std::thread attempt([&] { EXPECT_FALSE(run_->tcp_connects("db", app, 8080)); });
  bool half_open = eventually(
      [&] {
        const auto sockets = run_->runtime.exec_in_network_namespace("app", {"ss", "-tn", "state", "syn-recv"}, 10s);
        return sockets.output.find(db + ":") != std::string::npos;
      },
      2s, 100ms);
  attempt.join();
  EXPECT_TRUE(half_open) << "no SYN from db arrived at the app";

  fault->revert();
  EXPECT_TRUE(run_->tcp_connects("app", db, 5432));
  EXPECT_TRUE(run_->tcp_connects("db", app, 8080));
}

// As root beside the engine, the rules go in through this machine's own iptables in the
// target's namespace; through the sidecar otherwise (FIREDRILL_NETWORK_TOOLS=sidecar). Both
// leave the same rules, observed from outside the same way, and each removes what the other put.
TEST_F(PartitionTest, TheDirectPathAndTheSidecarLeaveTheSameRulesAndUndoEachOthers) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root enters a container's namespace from this machine";
  char host_name[256] = {};
  ASSERT_EQ(::gethostname(host_name, sizeof host_name - 1), 0);
  const auto hostname_seen = [&](bool through_sidecar) {
    run_->runtime.set_network_tools_through_sidecar(through_sidecar);
    return run_->runtime.exec_network_tools("db", {"cat", "/proc/sys/kernel/hostname"}, 10s).output;
  };
  // This machine's own programs see its UTS name; the sidecar's are in the container's.
  EXPECT_EQ(hostname_seen(false), std::string(host_name) + "\n");
  EXPECT_NE(hostname_seen(true), std::string(host_name) + "\n");

  const std::string db = netfilter::address_of(run_->runtime, "db");
  for (const bool inject_through_sidecar : {false, true}) {
    SCOPED_TRACE(inject_through_sidecar ? "added through the sidecar" : "added directly");
    run_->runtime.set_network_tools_through_sidecar(inject_through_sidecar);
    auto context = run_->context();
    auto fault = PartitionInjector().inject(context, fault_step("partition", "", {{"isolate", scalar("db")}}));
    EXPECT_EQ(fault->describe().value("network_tools", ""), inject_through_sidecar ? "sidecar" : "direct");
    EXPECT_FALSE(run_->tcp_connects("cache", db, 5432));
    const std::string listed = netfilter::rule_listing(run_->runtime, "db");
    run_->runtime.set_network_tools_through_sidecar(!inject_through_sidecar);
    EXPECT_EQ(netfilter::rule_listing(run_->runtime, "db"), listed);
    EXPECT_TRUE(run_->has_firedrill_chain("db"));
    fault->revert();
    EXPECT_FALSE(run_->has_firedrill_chain("db")) << netfilter::rule_listing(run_->runtime, "db");
    EXPECT_TRUE(run_->tcp_connects("cache", db, 5432));
  }
  run_->runtime.set_network_tools_through_sidecar(false);
}

TEST_F(PartitionTest, CleanupRevertsFromTheJournalWithAFreshRuntime) {
  const std::string db = netfilter::address_of(run_->runtime, "db");
  auto context = run_->context();
  PartitionInjector injector;
  auto fault = injector.inject(context, fault_step("partition", "", {{"isolate", scalar("db")}}));
  ASSERT_FALSE(run_->tcp_connects("cache", db, 5432));
  const nlohmann::json inverse = run_->journalled.back();

  // As `firedrill cleanup` does after the owner died: a runtime bound only by the run id.
  DockerRuntime fresh;
  fresh.begin_run(run_->run_id(), "netfault-test", Owner{}, {});
  revert_from_journal(fresh, inverse);
  EXPECT_FALSE(run_->has_firedrill_chain("db")) << netfilter::rule_listing(run_->runtime, "db");
  EXPECT_TRUE(run_->tcp_connects("cache", db, 5432));
  revert_from_journal(fresh, inverse);  // a second cleanup finds nothing to undo
  fault->revert();                      // nor does the original owner
}

}  // namespace
}  // namespace firedrill
