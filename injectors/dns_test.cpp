#include "injectors/dns.hpp"

#include "injectors/netfilter_test.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using netfault_testing::eventually;
using netfault_testing::fault_step;
using netfault_testing::scalar;

TEST(DnsParams, RefuseAnUnknownModeAndTheTargetsOwnName) {
  EXPECT_NO_THROW(DnsInjector::check_params(fault_step("dns", "app", {{"host", scalar("db")}})));
  EXPECT_NO_THROW(DnsInjector::check_params(fault_step("dns", "app", {{"host", scalar("db")}, {"mode", scalar("wrong")}})));
  EXPECT_THROW(DnsInjector::check_params(fault_step("dns", "app", {{"host", scalar("db")}, {"mode", scalar("slow")}})),
               std::invalid_argument);
  EXPECT_THROW(DnsInjector::check_params(fault_step("dns", "app", {{"host", scalar("app")}})), std::invalid_argument);
}

TEST(DnsParams, TheWrongAddressIsTheLastHostOfTheRunsSubnet) {
  EXPECT_EQ(dns::unused_address("198.18.3.2/24"), "198.18.3.254");
  EXPECT_EQ(dns::unused_address("198.18.4.9/23"), "198.18.5.254");
  EXPECT_EQ(dns::unused_address("198.19.0.2/16"), "198.19.255.254");
  EXPECT_THROW(dns::unused_address("198.18.3.2"), std::invalid_argument);
  EXPECT_THROW(dns::unused_address("fd00::1/64"), std::invalid_argument);
  EXPECT_THROW(dns::unused_address("198.18.3.2/31"), std::invalid_argument);
}

TEST(DnsRegistry, NeedsARuntimeWithNetworkNamespaces) {
  const auto& entry = fault_registry().at("dns");
  ASSERT_TRUE(entry.spec.needs);
  EXPECT_EQ(entry.spec.needs(fault_step("dns", "app", {{"host", scalar("db")}})),
            std::vector<Capability>{Capability::network_namespaces});
}

class DnsTest : public netfault_testing::NetworkFaultTest {
 protected:
  /// What the app's resolver answers for db: its address, or "" when the lookup fails.
  std::string app_resolves_db() {
    const auto result = run_->runtime.exec("app", {"getent", "hosts", "db"}, 15s);
    if (result.exit_code != 0) return "";
    return result.output.substr(0, result.output.find_first_of(" \t"));
  }
};

TEST_F(DnsTest, FailMakesTheNameUnresolvableAtOnceUntilReverted) {
  const std::string before = app_resolves_db();
  ASSERT_FALSE(before.empty());
  auto context = run_->context();
  auto fault = DnsInjector().inject(context, fault_step("dns", "app", {{"host", scalar("db")}}));
  ASSERT_EQ(run_->journalled.size(), 1u);
  EXPECT_EQ(run_->journalled.back().value("type", ""), "dns");
  // Refused, not dropped: the lookup fails within the exec's bound, not after resolver timeouts.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(app_resolves_db(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_TRUE(run_->has_firedrill_chain("app"));
  EXPECT_FALSE(run_->has_firedrill_chain("db")) << "only the target's lookups fail";
  // The database itself is untouched: the harness still reaches it.
  EXPECT_TRUE(run_->host_reaches_db());
  fault->revert();
  EXPECT_EQ(run_->reverted.size(), 1u);
  EXPECT_EQ(app_resolves_db(), before);
  EXPECT_FALSE(run_->has_firedrill_chain("app"));
}

TEST_F(DnsTest, WrongResolvesToAnAddressOfTheRunWhereNothingListensUntilReverted) {
  const std::string before = app_resolves_db();
  ASSERT_FALSE(before.empty());
  auto context = run_->context();
  auto fault = DnsInjector().inject(context, fault_step("dns", "app", {{"host", scalar("db")}, {"mode", scalar("wrong")}}));
  const std::string wrong = fault->describe().value("resolves_to", "");
  EXPECT_EQ(wrong.substr(0, wrong.rfind('.')), before.substr(0, before.rfind('.'))) << "on the run's own network";
  EXPECT_EQ(app_resolves_db(), wrong);
  EXPECT_FALSE(run_->tcp_connects("app", wrong, 5432));
  fault->revert();
  EXPECT_EQ(app_resolves_db(), before);
}

TEST_F(DnsTest, TheJournalledInverseAloneRestoresTheName) {
  // What `firedrill cleanup` does after the harness died with the fault applied.
  const std::string before = app_resolves_db();
  auto context = run_->context();
  auto fault = DnsInjector().inject(context, fault_step("dns", "app", {{"host", scalar("db")}}));
  EXPECT_EQ(app_resolves_db(), "");
  revert_from_journal(run_->runtime, run_->journalled.back());
  EXPECT_EQ(app_resolves_db(), before);
  EXPECT_FALSE(run_->has_firedrill_chain("app"));
}

}  // namespace
}  // namespace firedrill
