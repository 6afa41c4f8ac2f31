// The bandwidth fault as a tc qdisc in a real container's network namespace, observed from
// outside: what the target sends the peer arrives at the rate, its other traffic as before, and
// after the revert (or the journalled inverse alone, as `firedrill cleanup` runs it) no qdisc is
// left and the transfer is as fast as before.
#include "injectors/bandwidth.hpp"
#include "injectors/netem.hpp"
#include "injectors/netfilter_test.hpp"
#include "injectors/registry.hpp"

namespace firedrill {
namespace {

using namespace std::chrono_literals;
using netfault_testing::fault_step;
using netfault_testing::scalar;

constexpr int transfer_bytes = 500'000;

class BandwidthRulesTest : public netfault_testing::NetworkFaultTest {
 protected:
  void SetUp() override {
    NetworkFaultTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!kernel_has_rate_limit()) GTEST_SKIP() << "this kernel has no htb qdisc or u32 filter";
  }

  /// Seconds the app takes to fetch `transfer_bytes` from db (what db sends the app), timed inside
  /// the app's container so the exec's own overhead is left out; -1 when the query failed. The
  /// password comes from the app's own DATABASE_URL, never a command line (every local user's `ps`
  /// shows those, and the security tests sample them while this runs beside them).
  double app_fetch_seconds() {
    const std::string script = fmt::format(
        "p=${{DATABASE_URL#postgresql://postgres:}}; export PGPASSWORD=${{p%%@*}}; "
        "s=$(date +%s%N); psql -X -h db -U postgres -d postgres -tA -c \"SELECT repeat('x', {})\" "
        ">/dev/null || exit 1; e=$(date +%s%N); echo $(( (e - s) / 1000 ))",
        transfer_bytes);
    const auto result = run_->runtime.exec("app", {"bash", "-c", script}, 60s);
    if (result.exit_code != 0) return -1;
    return std::stod(result.output) / 1e6;
  }

  /// Seconds the harness takes to fetch the same through db's published port (not the app's path).
  double harness_fetch_seconds() const {
    pqxx::connection connection(fmt::format("host=127.0.0.1 port={} user=postgres password={} dbname=postgres",
                                            run_->db_port, netfault_testing::NetworkFaultRun::password));
    pqxx::nontransaction query(connection);
    const auto started = std::chrono::steady_clock::now();
    query.exec1(fmt::format("SELECT repeat('x', {})", transfer_bytes));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }

  std::string qdiscs_of(const std::string& service) {
    return run_->runtime.exec_in_network_namespace(service, {"tc", "qdisc", "show", "dev", "eth0"}, 10s).output;
  }
};

TEST_F(BandwidthRulesTest, WhatTheTargetSendsThePeerArrivesAtTheRateUntilReverted) {
  const double before = app_fetch_seconds();
  ASSERT_GT(before, 0);
  auto context = run_->context();
  auto fault = BandwidthInjector().inject(
      context, fault_step("bandwidth", "db", {{"towards", scalar("app")}, {"rate", scalar("2mbit")}, {"via", scalar("tc")}}));
  ASSERT_EQ(run_->journalled.size(), 1u);
  EXPECT_EQ(run_->journalled.back().value("type", ""), "netem");
  EXPECT_NE(qdiscs_of("db").find("htb"), std::string::npos) << qdiscs_of("db");
  EXPECT_EQ(qdiscs_of("app").find("htb"), std::string::npos) << "only the target's egress is capped";

  // 500 kB at 250 kB/s: 2 s, a little more for the protocol's own bytes.
  const double during = app_fetch_seconds();
  const double rate = transfer_bytes / during;
  RecordProperty("shaped_bytes_per_second", std::to_string(static_cast<long>(rate)));
  EXPECT_GT(rate, 250'000 * 0.75) << during << " s";
  EXPECT_LT(rate, 250'000 * 1.10) << during << " s";
  EXPECT_LT(harness_fetch_seconds(), 1.0) << "the harness's own path to db was capped too";

  const auto described = fault->describe();
  EXPECT_EQ(described["via"], "tc");
  EXPECT_EQ(described["bytes_per_second"], 250000.0);

  fault->revert();
  EXPECT_EQ(run_->reverted.size(), 1u);
  EXPECT_EQ(qdiscs_of("db").find("htb"), std::string::npos) << qdiscs_of("db");
  // Uncapped means faster than the cap could ever carry it (2 s), however loaded the machine is:
  // beside other drills an uncapped fetch took 0.6 s where it took 0.16 s before the fault.
  const double after = app_fetch_seconds();
  EXPECT_GT(after, 0);
  EXPECT_LT(after, 0.75 * transfer_bytes / 250'000) << "before " << before << " s";
}

TEST_F(BandwidthRulesTest, TheJournalledInverseAloneRemovesTheCap) {
  // What `firedrill cleanup` does after the harness died with the fault applied.
  auto context = run_->context();
  auto fault = BandwidthInjector().inject(
      context, fault_step("bandwidth", "db", {{"towards", scalar("app")}, {"rate", scalar("1mbit")}, {"via", scalar("tc")}}));
  ASSERT_NE(qdiscs_of("db").find("htb"), std::string::npos);
  revert_from_journal(run_->runtime, run_->journalled.back());
  EXPECT_EQ(qdiscs_of("db").find("htb"), std::string::npos) << qdiscs_of("db");
  const double after = app_fetch_seconds();
  EXPECT_GT(after, 0);
  EXPECT_LT(after, 1.0);
  fault->revert();  // nothing left to remove: still fine
}

}  // namespace
}  // namespace firedrill
