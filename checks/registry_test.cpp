// What a check declares it must gather while the environment is up, and how its answer is read
// back: the engine runs the declarations without knowing the checks.
#include "checks/registry.hpp"

#include <cctype>

#include <gtest/gtest.h>

#include "core/duration.hpp"

namespace firedrill {
namespace {

CheckSpec check(const std::string& kind, const std::string& subject, const std::map<std::string, std::string>& params = {}) {
  CheckSpec spec;
  spec.kind = kind;
  spec.subject = subject;
  for (const auto& [name, text] : params) {
    spec.params[name].text = text;
    // What the loader gives a duration parameter.
    if (std::isdigit(static_cast<unsigned char>(text.front())) && std::isalpha(static_cast<unsigned char>(text.back())))
      spec.params[name].duration = parse_duration(text);
  }
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
  const std::vector<Ack> acks;
  const CheckInput input{scenario, events, recovery, loss, objectives, acks};
  const CheckOutcome answered = check_registry().at("integrity").evaluate(integrity, input);
  EXPECT_EQ(answered.verdict, Verdict::pass) << answered.detail;
  events.clear();
  const CheckOutcome never_ran = check_registry().at("integrity").evaluate(integrity, input);
  EXPECT_EQ(never_ran.verdict, Verdict::unknown) << never_ran.detail;
}

/// An ack of `writer` sent at `sent_ms` and answered `took_ms` later.
Ack write(const std::string& writer, Micros sent_ms, Micros took_ms) {
  Ack ack;
  ack.id = writer + std::to_string(sent_ms);
  ack.writer = writer;
  ack.sent = sent_ms * 1000;
  ack.acked = ack.sent + took_ms * 1000;
  ack.outcome = WriteOutcome::ok;
  return ack;
}

Event fault_event(const char* kind, Micros at_ms) {
  Event event;
  event.kind = kind;
  event.t = at_ms * 1000;
  event.details = {{"step", "slow disk"}, {"fault", "latency"}, {"target", "db"}};
  return event;
}

// Writes take 10 ms, but 900 ms while the fault is in force (from 1 s to 2 s): the check bounds
// what the writes took then, or over the whole run.
TEST(LatencyCheck, JudgesTheWritesSentWhileFaultsWereInForceOrAll) {
  Scenario scenario;
  std::vector<Ack> acks;
  for (Micros at = 0; at < 3000; at += 10) acks.push_back(write("orders", at, at >= 1000 && at < 2000 ? 900 : 10));
  std::vector<Event> events = {fault_event(event_kind::fault_injected, 1000), fault_event(event_kind::fault_reverted, 2000)};
  std::map<std::string, RecoveryMeasure> recovery;
  std::map<std::string, DataLossMeasure> loss;
  std::map<std::string, CheckOutcome> objectives;
  const CheckInput input{scenario, events, recovery, loss, objectives, acks};
  const auto& latency = check_registry().at("latency");

  const CheckOutcome slow = latency.evaluate(check("latency", "overall", {{"p99", "500ms"}}), input);
  EXPECT_EQ(slow.verdict, Verdict::fail) << slow.detail;
  EXPECT_NE(slow.detail.find("p99 900.0 ms > 500ms over 100 acknowledged writes sent while faults were in force"), std::string::npos)
      << slow.detail;
  const CheckOutcome tolerated = latency.evaluate(check("latency", "overall", {{"p99", "1s"}, {"p50", "950ms"}}), input);
  EXPECT_EQ(tolerated.verdict, Verdict::pass) << tolerated.detail;
  // Over the whole run two writes in three took 10 ms: the median is fine, the tail is not.
  const CheckOutcome median = latency.evaluate(check("latency", "overall", {{"p50", "20ms"}, {"during", "all"}}), input);
  EXPECT_EQ(median.verdict, Verdict::pass) << median.detail;
  const CheckOutcome tail = latency.evaluate(check("latency", "overall", {{"max", "500ms"}, {"during", "all"}}), input);
  EXPECT_EQ(tail.verdict, Verdict::fail) << tail.detail;

  // Without a fault, or without writes, there is nothing to judge: unknown, never a pass.
  std::vector<Event> no_faults;
  const CheckInput calm{scenario, no_faults, recovery, loss, objectives, acks};
  EXPECT_EQ(latency.evaluate(check("latency", "overall", {{"p99", "1s"}}), calm).verdict, Verdict::unknown);
  const std::vector<Ack> none;
  const CheckInput silent{scenario, events, recovery, loss, objectives, none};
  EXPECT_EQ(latency.evaluate(check("latency", "overall", {{"p99", "1s"}}), silent).verdict, Verdict::unknown);

  // A check that bounds nothing, or names another window, is refused when the scenario loads.
  StepSpec unbounded;
  unbounded.params = check("latency", "overall", {{"during", "all"}}).params;
  EXPECT_THROW(latency.spec.check_combination(unbounded), std::invalid_argument);
  StepSpec elsewhere;
  elsewhere.params = check("latency", "overall", {{"p99", "1s"}, {"during", "recovery"}}).params;
  EXPECT_THROW(latency.spec.check_combination(elsewhere), std::invalid_argument);
}

}  // namespace
}  // namespace firedrill
