#include "injectors/loss.hpp"

#include "injectors/netfilter_test.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using netfault_testing::fault_step;
using netfault_testing::NetworkFaultRun;
using netfault_testing::scalar;

class LossTest : public netfault_testing::NetworkFaultTest {
 protected:
  /// How many of `attempts` TCP connects from the app to db complete within 500 ms each.
  static int connects_out_of(int attempts) {
    const std::string db = netfilter::address_of(run_->runtime, "db");
    const std::string script = fmt::format(
        "ok=0; for i in $(seq {}); do timeout 0.5 bash -c 'exec 3<>/dev/tcp/{}/5432' && ok=$((ok+1)); done; echo $ok",
        attempts, db);
    const auto result = run_->runtime.exec_in_network_namespace("app", {"bash", "-c", script}, 60s);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    return std::stoi(result.output);
  }

};

TEST_F(LossTest, EveryPacketTowardsDbLostCutsAppFromDbOnly) {
  const std::string db = netfilter::address_of(run_->runtime, "db");
  const std::string cache = netfilter::address_of(run_->runtime, "cache");
  auto context = run_->context();
  LossInjector injector;
  auto fault = injector.inject(context, fault_step("loss", "app", {{"percent", scalar("100")}, {"towards", scalar("db")}}));
  ASSERT_FALSE(run_->journalled.empty());
  EXPECT_EQ(run_->journalled.back().value("fault", ""), "loss");

  EXPECT_FALSE(run_->tcp_connects("app", db, 5432));
  EXPECT_TRUE(run_->tcp_connects("app", cache, 6379));

  fault->revert();
  fault->revert();
  EXPECT_TRUE(run_->tcp_connects("app", db, 5432));
  EXPECT_FALSE(run_->has_firedrill_chain("app")) << netfilter::rule_listing(run_->runtime, "app");
}

TEST_F(LossTest, HalfThePacketsLostFailsSomeConnectsButNotAll) {
  auto context = run_->context();
  LossInjector injector;
  auto fault = injector.inject(context, fault_step("loss", "app", {{"percent", scalar("50")}, {"towards", scalar("db")}}));
  // A connect within 500 ms needs its SYN and the SYN-ACK through: about one in four.
  const int connected = connects_out_of(40);
  fault->revert();
  EXPECT_GT(connected, 0);
  EXPECT_LT(connected, 40);
  EXPECT_EQ(connects_out_of(10), 10);
  EXPECT_FALSE(run_->has_firedrill_chain("app"));
}

TEST_F(LossTest, WithoutAPeerAllOfTheTargetsRunTrafficIsLost) {
  const std::string cache = netfilter::address_of(run_->runtime, "cache");
  auto context = run_->context();
  LossInjector injector;
  auto fault = injector.inject(context, fault_step("loss", "app", {{"percent", scalar("100")}}));
  EXPECT_FALSE(run_->tcp_connects("app", cache, 6379));
  std::string body;
  EXPECT_EQ(netfault_testing::http_get(run_->app_port, "/live", body), 0) << "the published port crosses the run network too";
  fault->revert();
  EXPECT_TRUE(run_->tcp_connects("app", cache, 6379));
  EXPECT_FALSE(run_->has_firedrill_chain("app"));
}

}  // namespace
}  // namespace firedrill
