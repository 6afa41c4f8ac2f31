// What a check declares it must gather while the environment is up, and how its answer is read
// back: the engine runs the declarations without knowing the checks.
#include "checks/registry.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

CheckSpec check(const std::string& kind, const std::string& subject, const std::map<std::string, std::string>& params = {}) {
  CheckSpec spec;
  spec.kind = kind;
  spec.subject = subject;
  for (const auto& [name, text] : params) spec.params[name].text = text;
  return spec;
}

TEST(CheckGathering, OnlyTheChecksThatDeclareAGatheringAskForOne) {
  Scenario scenario;
  scenario.checks = {check("rto", "overall"), check("integrity", "db", {{"sql", "SELECT count(*) FROM orders"}, {"expect", ">= acked"}}),
                     check("lost_acked_writes", "db"), check("integrity", "ledger", {{"sql", "SELECT 1"}, {"expect", "1"}})};
  const auto requests = gatherings_of(scenario);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].subject, "db");
  EXPECT_EQ(requests[0].gathering.language, "sql");
  EXPECT_EQ(requests[0].gathering.query, "SELECT count(*) FROM orders");
  EXPECT_EQ(requests[1].subject, "ledger");
  EXPECT_EQ(gathered_event_kind(requests[0].gathering), "check.sql");
}

TEST(CheckGathering, TheIntegrityCheckJudgesTheRecordedAnswer) {
  Scenario scenario;
  const CheckSpec integrity = check("integrity", "db", {{"sql", "SELECT count(*) FROM orders"}, {"expect", ">= acked"}});
  scenario.checks = {integrity};
  const auto request = gatherings_of(scenario).at(0);
  Event answer;
  answer.t = 1;
  answer.kind = gathered_event_kind(request.gathering);
  answer.details = {{"subject", "db"}, {request.gathering.language, request.gathering.query}, {"value", "12"}};
  std::vector<Event> events = {answer};
  std::map<std::string, RecoveryMeasure> recovery;
  std::map<std::string, DataLossMeasure> loss;
  loss["db"].acked = 12;
  std::map<std::string, CheckOutcome> objectives;
  const CheckInput input{scenario, events, recovery, loss, objectives};
  const CheckOutcome answered = check_registry().at("integrity").evaluate(integrity, input);
  EXPECT_EQ(answered.verdict, Verdict::pass) << answered.detail;
  events.clear();
  const CheckOutcome never_ran = check_registry().at("integrity").evaluate(integrity, input);
  EXPECT_EQ(never_ran.verdict, Verdict::unknown) << never_ran.detail;
}

}  // namespace
}  // namespace firedrill
