#include "checks/measure/analysis.hpp"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace firedrill {
namespace {

using namespace std::chrono_literals;

constexpr Micros base = 1'800'000'000'000'000;  // an arbitrary wall time
constexpr Micros ms = 1000;
constexpr Micros t0 = base + 10'000 * ms;

Event incident(Micros t) { return {t, event_kind::incident, {{"step", "kill db"}}}; }
Event probe(Micros t, const std::string& name, bool ok, const std::string& service = "db") {
  return {t, event_kind::probe, {{"probe", name}, {"service", service}, {"ok", ok}}};
}
Ack ok_write(const std::string& writer, std::int64_t n, Micros sent, Micros acked) {
  return {"run-" + writer + "-" + std::to_string(n), writer, sent, acked, WriteOutcome::ok, ""};
}
Ack failed_write(const std::string& writer, std::int64_t n, Micros sent,
                 WriteOutcome outcome = WriteOutcome::error) {
  return {"run-" + writer + "-" + std::to_string(n), writer, sent, std::nullopt, outcome, "refused"};
}

// Writes every 10 ms from `from` to `to`; those sent in [fail_from, fail_to) fail.
std::vector<Ack> steady_writes(const std::string& writer, Micros from, Micros to, Micros fail_from = 0,
                               Micros fail_to = 0) {
  std::vector<Ack> acks;
  std::int64_t n = 0;
  for (Micros t = from; t < to; t += 10 * ms) {
    if (t >= fail_from && t < fail_to) {
      acks.push_back(failed_write(writer, n++, t, WriteOutcome::timeout));
    } else {
      acks.push_back(ok_write(writer, n++, t, t + 2 * ms));
    }
  }
  return acks;
}

ComponentScope db_scope(std::vector<std::string> probes = {"db-sql"}, std::vector<std::string> writers = {},
                        Duration stable = 1s) {
  return {"db", std::move(probes), std::move(writers), stable};
}

Readback readback_of(const std::vector<Ack>& acks, const std::string& writer, const std::vector<std::string>& drop) {
  Readback readback;
  WriterReadback& data = readback.writers[writer];
  data.t = base + 60'000 * ms;
  for (const Ack& ack : acks) {
    if (ack.writer == writer && ack.outcome == WriteOutcome::ok &&
        std::find(drop.begin(), drop.end(), ack.id) == drop.end()) {
      data.present.insert(ack.id);
    }
  }
  return readback;
}

TEST(MeasureRecovery, NoIncidentMeansNoMeasure) {
  const std::vector<Event> events = {probe(base, "db-sql", true)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope(), base + 5000 * ms);
  EXPECT_FALSE(m.incident_at);
  EXPECT_FALSE(m.rto_seconds);
  EXPECT_FALSE(m.recovered);
  EXPECT_NE(m.reason.find("no incident"), std::string::npos);
}

TEST(MeasureRecovery, SingleOutageGivesRtoDetectAndDowntime) {
  const std::vector<Event> events = {probe(base, "db-sql", true), incident(t0),
                                     probe(t0 + 40 * ms, "db-sql", false), probe(t0 + 2500 * ms, "db-sql", true)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope(), t0 + 10'000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.incident_at, t0);
  EXPECT_EQ(m.detected_at, t0 + 40 * ms);
  EXPECT_EQ(m.probes_recovered_at, t0 + 2500 * ms);
  EXPECT_EQ(m.writes_recovered_at, t0);
  EXPECT_EQ(m.recovered_at, t0 + 2500 * ms);
  EXPECT_DOUBLE_EQ(*m.rto_seconds, 2.5);
  EXPECT_DOUBLE_EQ(*m.detect_seconds, 0.04);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 2.46);
}

TEST(MeasureRecovery, ProbesThatNeverGoDownRecoverAtT0) {
  const std::vector<Event> events = {probe(base, "db-sql", true), incident(t0)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope(), t0 + 5000 * ms);
  ASSERT_TRUE(m.recovered);
  EXPECT_EQ(m.recovered_at, t0);
  EXPECT_DOUBLE_EQ(*m.rto_seconds, 0);
  EXPECT_FALSE(m.detected_at);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0);
}

TEST(MeasureRecovery, FlappingProbeRecoversOnlyAfterAFullStableInterval) {
  const std::vector<Event> events = {
      probe(base, "db-sql", true),          incident(t0),
      probe(t0 + 10 * ms, "db-sql", false), probe(t0 + 1000 * ms, "db-sql", true),
      probe(t0 + 1600 * ms, "db-sql", false),  // up for only 600 ms
      probe(t0 + 1700 * ms, "db-sql", true),  probe(t0 + 2699 * ms, "db-sql", false),  // 999 ms
      probe(t0 + 3000 * ms, "db-sql", true)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope(), t0 + 10'000 * ms);
  ASSERT_TRUE(m.recovered);
  EXPECT_EQ(m.recovered_at, t0 + 3000 * ms);
  EXPECT_EQ(m.detected_at, t0 + 10 * ms);
  // Down [10, 1000) + [1600, 1700) + [2699, 3000) ms.
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 1.391);
}

TEST(MeasureRecovery, UpExactlyForStableCounts) {
  const std::vector<Event> events = {incident(t0), probe(t0 + 10 * ms, "db-sql", false),
                                     probe(t0 + 100 * ms, "db-sql", true), probe(t0 + 1100 * ms, "db-sql", false),
                                     probe(t0 + 1200 * ms, "db-sql", true)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope(), t0 + 5000 * ms);
  EXPECT_EQ(m.recovered_at, t0 + 100 * ms);
}

TEST(MeasureRecovery, StableIntervalMustFitInTheHistory) {
  const std::vector<Event> events = {incident(t0), probe(t0 + 10 * ms, "db-sql", false),
                                     probe(t0 + 2000 * ms, "db-sql", true)};
  RecoveryMeasure m = measure_recovery(events, {}, db_scope(), t0 + 2500 * ms);
  EXPECT_FALSE(m.recovered);
  EXPECT_FALSE(m.rto_seconds);
  m = measure_recovery(events, {}, db_scope(), t0 + 3000 * ms);
  EXPECT_TRUE(m.recovered);
  EXPECT_EQ(m.recovered_at, t0 + 2000 * ms);
}

TEST(MeasureRecovery, NeverRecoversSaysWhatStayedDown) {
  const std::vector<Event> events = {probe(base, "db-sql", true), probe(base, "db-tcp", true), incident(t0),
                                     probe(t0 + 30 * ms, "db-sql", false)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope({"db-sql", "db-tcp"}), t0 + 30'000 * ms);
  EXPECT_FALSE(m.recovered);
  EXPECT_FALSE(m.rto_seconds);
  EXPECT_FALSE(m.recovered_at);
  EXPECT_EQ(m.detected_at, t0 + 30 * ms);
  EXPECT_NE(m.reason.find("db-sql"), std::string::npos) << m.reason;
  EXPECT_EQ(m.reason.find("db-tcp"), std::string::npos) << m.reason;
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 29.97);
}

TEST(MeasureRecovery, ProbeWithoutEventsIsUnknownAndCountsAsDown) {
  const std::vector<Event> events = {probe(base, "db-sql", true), incident(t0)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope({"db-sql", "db-never"}), t0 + 5000 * ms);
  EXPECT_FALSE(m.recovered);
  EXPECT_NE(m.reason.find("db-never"), std::string::npos) << m.reason;
}

TEST(MeasureRecovery, SlowestProbeDefinesRecovery) {
  const std::vector<Event> events = {
      probe(base, "db-sql", true),          probe(base, "app-http", true, "app"), incident(t0),
      probe(t0 + 20 * ms, "db-sql", false), probe(t0 + 25 * ms, "app-http", false, "app"),
      probe(t0 + 900 * ms, "db-sql", true), probe(t0 + 4000 * ms, "app-http", true, "app")};
  const RecoveryMeasure overall = measure_recovery(events, {}, overall_scope(events, {}, 1s), t0 + 10'000 * ms);
  EXPECT_EQ(overall.recovered_at, t0 + 4000 * ms);
  EXPECT_EQ(overall.detected_at, t0 + 20 * ms);
  EXPECT_DOUBLE_EQ(*overall.downtime_seconds, 3.98);

  const RecoveryMeasure db = measure_recovery(events, {}, db_scope(probes_of_service(events, "db")), t0 + 10'000 * ms);
  EXPECT_EQ(db.recovered_at, t0 + 900 * ms);
}

TEST(MeasureRecovery, DowntimeAddsTwoOutages) {
  const std::vector<Event> events = {probe(base, "db-sql", true),          incident(t0),
                                     probe(t0 + 100 * ms, "db-sql", false), probe(t0 + 600 * ms, "db-sql", true),
                                     probe(t0 + 900 * ms, "db-sql", false), probe(t0 + 1200 * ms, "db-sql", true)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope({"db-sql"}, {}, 200ms), t0 + 5000 * ms);
  // [600, 900) is already a stable interval of 200 ms: recovery there; only the first outage counts.
  EXPECT_EQ(m.recovered_at, t0 + 600 * ms);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0.5);

  const RecoveryMeasure strict = measure_recovery(events, {}, db_scope({"db-sql"}, {}, 1s), t0 + 5000 * ms);
  EXPECT_EQ(strict.recovered_at, t0 + 1200 * ms);
  EXPECT_DOUBLE_EQ(*strict.downtime_seconds, 0.8);
}

TEST(MeasureRecovery, WritesFailingAfterProbesRecoverDefineRecovery) {
  const std::vector<Event> events = {probe(base, "db-sql", true), incident(t0), probe(t0 + 50 * ms, "db-sql", false),
                                     probe(t0 + 1000 * ms, "db-sql", true)};
  // Writes fail from T0 until 3 s after it, long after the probe came back.
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 10'000 * ms, t0, t0 + 3000 * ms);
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({"db-sql"}, {"orders"}), t0 + 10'000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.probes_recovered_at, t0 + 1000 * ms);
  EXPECT_EQ(m.writes_recovered_at, t0 + 3002 * ms);  // first write sent at +3000 ms acked 2 ms later
  EXPECT_EQ(m.recovered_at, t0 + 3002 * ms);
  EXPECT_DOUBLE_EQ(*m.rto_seconds, 3.002);
  // Downtime is what the probes saw and what the writers saw: writes failed from T0 until the
  // first acknowledgement after them.
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 3.002);
}

// Writes every 10 ms answered in 2 ms, except those sent in a 200 ms freeze from T0: answered at
// `thawed_answer`.
std::vector<Ack> writes_through_a_freeze(Micros thawed_answer) {
  std::vector<Ack> acks;
  std::int64_t n = 0;
  for (Micros t = base; t < t0 + 3000 * ms; t += 10 * ms) {
    const bool frozen = t >= t0 && t < t0 + 200 * ms;
    acks.push_back(ok_write("orders", n++, t, frozen ? thawed_answer : t + 2 * ms));
  }
  return acks;
}

// The rules for a freeze too short for anything to fail (analysis.hpp: late requests).
TEST(MeasureRecovery, AWriteAnsweredLateAfterAShortFreezeIsDowntimeFromWhenItWasSent) {
  const std::vector<Event> events = {probe(base, "app-live", true, "app"), incident(t0)};
  const std::vector<Ack> acks = writes_through_a_freeze(t0 + 201 * ms);
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({"app-live"}, {"orders"}), t0 + 3000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.recovered_at, t0 + 201 * ms);
  EXPECT_DOUBLE_EQ(*m.rto_seconds, 0.201);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0.201);  // from the write sent at T0 to the first answer
  ASSERT_TRUE(m.detected_at);
  EXPECT_EQ(*m.detected_at, t0);
}

TEST(MeasureRecovery, AWriteInFlightWhenTheFaultTookEffectDetectsItAtOnceAndCountsFromT0) {
  const std::vector<Event> events = {incident(t0)};
  std::vector<Ack> acks = steady_writes("orders", base, t0 - 5 * ms);
  acks.push_back(ok_write("orders", 90001, t0 - 3 * ms, t0 + 150 * ms));  // sent before, answered after
  acks.push_back(ok_write("orders", 90002, t0 + 150 * ms, t0 + 152 * ms));
  for (Micros t = t0 + 160 * ms; t < t0 + 3000 * ms; t += 10 * ms) acks.push_back(ok_write("orders", 90003 + t, t, t + 2 * ms));
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({}, {"orders"}), t0 + 3000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.recovered_at, t0 + 152 * ms);
  EXPECT_EQ(m.detected_at, t0);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0.15);  // clipped to T0: before it nothing was wrong yet
}

TEST(MeasureRecovery, LateMeansThreeTimesThePreFaultP99AndAtLeastTenMilliseconds) {
  const std::vector<Event> events = {incident(t0)};
  // Before T0 writes take 6 ms (p99 6 ms): late is beyond 18 ms.
  std::vector<Ack> acks;
  std::int64_t n = 0;
  for (Micros t = base; t < t0; t += 10 * ms) acks.push_back(ok_write("orders", n++, t, t + 6 * ms));
  acks.push_back(ok_write("orders", n++, t0 + 10 * ms, t0 + 27 * ms));  // 17 ms: slow, not late
  acks.push_back(ok_write("orders", n++, t0 + 30 * ms, t0 + 49 * ms));  // 19 ms: late
  for (Micros t = t0 + 60 * ms; t < t0 + 3000 * ms; t += 10 * ms) acks.push_back(ok_write("orders", n++, t, t + 6 * ms));
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({}, {"orders"}), t0 + 3000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  // Recovered at the first acknowledgement of a write sent after T0 (+27 ms); the late write
  // sent at +30 ms lies after it, so it is neither downtime nor a detection of this incident.
  EXPECT_EQ(m.recovered_at, t0 + 27 * ms);
  EXPECT_FALSE(m.detected_at);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0);
  // Judged against a history where the writes sent just after T0 take 17 and 19 ms (recovery is
  // only declared at the first answer after both), the 19 ms one is late and detects the
  // incident; the 17 ms one is not.
  std::vector<Ack> slow;
  n = 0;
  for (Micros t = base; t < t0; t += 10 * ms) slow.push_back(ok_write("orders", n++, t, t + 6 * ms));
  slow.push_back(ok_write("orders", n++, t0 + 10 * ms, t0 + 27 * ms));  // 17 ms: slow, not late
  slow.push_back(ok_write("orders", n++, t0 + 12 * ms, t0 + 31 * ms));  // 19 ms: late
  slow.push_back(failed_write("orders", n++, t0 + 28 * ms));             // recovery after this one
  for (Micros t = t0 + 60 * ms; t < t0 + 3000 * ms; t += 10 * ms) slow.push_back(ok_write("orders", n++, t, t + 6 * ms));
  const RecoveryMeasure s = measure_recovery(events, slow, db_scope({}, {"orders"}), t0 + 3000 * ms);
  ASSERT_TRUE(s.recovered) << s.reason;
  EXPECT_EQ(s.recovered_at, t0 + 31 * ms);
  EXPECT_EQ(s.detected_at, t0 + 12 * ms);

  // With writes of 1 ms before T0, 3 × p99 is 3 ms and the floor of 10 ms decides: 11 ms is late.
  std::vector<Ack> fast;
  n = 0;
  for (Micros t = base; t < t0; t += 10 * ms) fast.push_back(ok_write("orders", n++, t, t + 1 * ms));
  fast.push_back(ok_write("orders", n++, t0 + 1 * ms, t0 + 10 * ms));  // 9 ms: not late
  fast.push_back(ok_write("orders", n++, t0 + 20 * ms, t0 + 31 * ms));  // 11 ms: late
  fast.push_back(failed_write("orders", n++, t0 + 25 * ms));             // recovery only after it
  for (Micros t = t0 + 40 * ms; t < t0 + 3000 * ms; t += 10 * ms) fast.push_back(ok_write("orders", n++, t, t + 1 * ms));
  const RecoveryMeasure f = measure_recovery(events, fast, db_scope({}, {"orders"}), t0 + 3000 * ms);
  EXPECT_EQ(f.detected_at, t0 + 20 * ms);
}

TEST(MeasureRecovery, AProbeDownBeforeTheFaultTookEffectDetectsItAtOnce) {
  // The prober stamps a late or failed sample when it was sent, which can be just before T0.
  Event late_sent = probe(t0 - 4 * ms, "app-live", false, "app");
  late_sent.details["latency_ms"] = 204.0;  // answered when the freeze ended
  const std::vector<Event> events = {probe(base, "app-live", true, "app"), late_sent, incident(t0),
                                     probe(t0 + 200 * ms, "app-live", true, "app")};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope({"app-live"}), t0 + 3000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.detected_at, t0);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0.2);
  EXPECT_DOUBLE_EQ(*m.rto_seconds, 0.2);
}

Event late_probe(Micros sent, const std::string& name) {
  return {sent, event_kind::probe, {{"probe", name}, {"service", "app"}, {"ok", false}, {"late", true}}};
}

TEST(MeasureRecovery, ALateProbeAnswerIsDowntimeAndDetectionButRecoveryIsJudgedOnAnswers) {
  std::vector<Event> events = {probe(base, "app-live", true, "app"), incident(t0), late_probe(t0 + 5 * ms, "app-live"),
                               probe(t0 + 201 * ms, "app-live", true, "app")};
  const std::vector<Ack> acks = writes_through_a_freeze(t0 + 202 * ms);
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({"app-live"}, {"orders"}), t0 + 3000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.probes_recovered_at, t0);  // every probe answered throughout
  EXPECT_EQ(m.recovered_at, t0 + 202 * ms);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0.202);
  EXPECT_EQ(m.detected_at, t0);

  // A late answer inside the stable window after a real outage does not move the recovery.
  events = {probe(base, "app-live", true, "app"), incident(t0), probe(t0 + 10 * ms, "app-live", false, "app"),
            probe(t0 + 500 * ms, "app-live", true, "app"), late_probe(t0 + 900 * ms, "app-live"),
            probe(t0 + 960 * ms, "app-live", true, "app")};
  const RecoveryMeasure later = measure_recovery(events, {}, db_scope({"app-live"}), t0 + 3000 * ms);
  ASSERT_TRUE(later.recovered) << later.reason;
  EXPECT_EQ(later.recovered_at, t0 + 500 * ms);
  EXPECT_DOUBLE_EQ(*later.downtime_seconds, 0.49);  // the late moment lies after the recovery
}

Event scheduling(Micros from, Micros to, double max_delay_ms, std::optional<double> pressure = std::nullopt) {
  Event event{to, event_kind::harness_scheduling,
              {{"from", format_rfc3339_micros(from)}, {"samples", 100}, {"p99_delay_ms", max_delay_ms / 2}, {"max_delay_ms", max_delay_ms}}};
  if (pressure) event.details["cpu_pressure_percent"] = *pressure;
  return event;
}

TEST(MeasurementQuality, ExactWhenTheHarnessWokeWithinTheToleranceOnFreeCpus) {
  // Windows before the incident do not count; those overlapping [T0, recovery] do.
  const std::vector<Event> events = {scheduling(t0 - 2000 * ms, t0 - 1000 * ms, 80.0, 90.0),
                                     scheduling(t0 - 1000 * ms, t0, 2.0, 5.0),
                                     scheduling(t0, t0 + 1000 * ms, 6.0, 8.0),
                                     scheduling(t0 + 5000 * ms, t0 + 6000 * ms, 90.0, 95.0)};
  const MeasurementQuality quality = measurement_quality(events, t0, t0 + 3000 * ms, 3.0);
  EXPECT_EQ(quality.verdict, "exact") << quality.note;
  EXPECT_DOUBLE_EQ(*quality.max_delay_ms, 6.0);
  EXPECT_DOUBLE_EQ(*quality.cpu_pressure_percent, 8.0);
  EXPECT_DOUBLE_EQ(quality.tolerance_ms, 15.0);  // 0.5 % of 3 s
}

TEST(MeasurementQuality, DegradedWhenTheHarnessWokeLateOrTheCpusWereContended) {
  const std::vector<Event> late = {scheduling(t0 - 500 * ms, t0 + 500 * ms, 12.0, 3.0)};
  const MeasurementQuality woke_late = measurement_quality(late, t0, t0 + 500 * ms, 0.5);
  EXPECT_EQ(woke_late.verdict, "degraded");
  EXPECT_NE(woke_late.note.find("12.0 ms late"), std::string::npos) << woke_late.note;
  const std::vector<Event> contended = {scheduling(t0 - 500 * ms, t0 + 500 * ms, 2.0, 60.0)};
  const MeasurementQuality busy = measurement_quality(contended, t0, t0 + 500 * ms, 0.5);
  EXPECT_EQ(busy.verdict, "degraded");
  EXPECT_NE(busy.note.find("60 %"), std::string::npos) << busy.note;
}

TEST(MeasurementQuality, UnknownWithoutTheHarnessRecords) {
  const MeasurementQuality quality = measurement_quality({incident(t0)}, t0, t0 + 1000 * ms, 1.0);
  EXPECT_EQ(quality.verdict, "unknown");
  EXPECT_FALSE(quality.max_delay_ms);
}

TEST(MeasureRecovery, TheIncidentsFaultEndsWhenItsRevertWasAskedFor) {
  std::vector<Event> events = {incident(t0)};
  events[0].details["step"] = "freeze";
  events.push_back({t0 + 3002 * ms, event_kind::fault_reverted,
                    {{"step", "freeze"}, {"requested_at", format_rfc3339_micros(t0 + 3000 * ms)}}});
  EXPECT_EQ(incident_fault_ended_at(events), t0 + 3000 * ms);
  events.pop_back();
  EXPECT_FALSE(incident_fault_ended_at(events));  // a kill is never reverted
}

TEST(MeasureRecovery, AProbeFailingLongBeforeTheIncidentDetectsNothingNew) {
  Event long_down = probe(t0 - 5000 * ms, "standby-sql", false);
  long_down.details["latency_ms"] = 2.0;
  const std::vector<Event> events = {probe(base, "db-sql", true), long_down, incident(t0),
                                     probe(t0 + 40 * ms, "db-sql", false), probe(t0 + 400 * ms, "db-sql", true),
                                     probe(t0 + 400 * ms, "standby-sql", true)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope({"db-sql", "standby-sql"}), t0 + 3000 * ms);
  EXPECT_EQ(m.detected_at, t0 + 40 * ms);
  // One still in flight at the incident (sent 4 ms before, failed 496 ms later) detects it at once.
  Event in_flight = probe(t0 - 4 * ms, "standby-sql", false);
  in_flight.details["latency_ms"] = 500.0;
  const std::vector<Event> flying = {probe(base, "db-sql", true), probe(base, "standby-sql", true), in_flight,
                                     incident(t0), probe(t0 + 400 * ms, "standby-sql", true)};
  EXPECT_EQ(measure_recovery(flying, {}, db_scope({"db-sql", "standby-sql"}), t0 + 3000 * ms).detected_at, t0);
}

TEST(MeasureRecovery, DowntimeIsTheUnionOfWhatProbesAndWritersSawNeverCountedTwice) {
  const std::vector<Event> events = {probe(base, "db-sql", true), incident(t0), probe(t0 + 100 * ms, "db-sql", false),
                                     probe(t0 + 400 * ms, "db-sql", true)};
  // Writes fail from +300 ms to +600 ms: overlapping the probe's outage by 100 ms.
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 5000 * ms, t0 + 300 * ms, t0 + 600 * ms);
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({"db-sql"}, {"orders"}), t0 + 5000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.recovered_at, t0 + 602 * ms);
  EXPECT_DOUBLE_EQ(*m.downtime_seconds, 0.502);  // [+100, +602)
  EXPECT_EQ(m.detected_at, t0 + 100 * ms);
}

TEST(MeasureRecovery, AnIsolatedFailureInsideTheStableWindowDelaysWriteRecovery) {
  const std::vector<Event> events = {incident(t0)};
  std::vector<Ack> acks = steady_writes("orders", t0 - 1000 * ms, t0 + 5000 * ms);
  acks.push_back(failed_write("orders", 99999, t0 + 500 * ms));
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({}, {"orders"}), t0 + 5000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.writes_recovered_at, t0 + 502 * ms);  // the first ack after the failure was sent
}

TEST(MeasureRecovery, AnAnswerToAWriteSentBeforeTheIncidentIsNoEvidenceOfRecovery) {
  // A freeze: the answer to the write sent 2 ms before it arrives just after T0 (it had left the
  // service already); those sent during the 500 ms freeze are answered when it thaws.
  const std::vector<Event> events = {incident(t0)};
  std::vector<Ack> acks = {ok_write("orders", 1, t0 - 2 * ms, t0 + 10)};
  for (std::int64_t n = 0; n < 50; ++n) acks.push_back(ok_write("orders", 2 + n, t0 + 10 * ms * n, t0 + 500 * ms + n * ms));
  for (std::int64_t n = 0; n < 200; ++n) acks.push_back(ok_write("orders", 100 + n, t0 + 500 * ms + 10 * ms * n, t0 + 502 * ms + 10 * ms * n));
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({}, {"orders"}), t0 + 3000 * ms);
  ASSERT_TRUE(m.recovered) << m.reason;
  EXPECT_EQ(m.writes_recovered_at, t0 + 500 * ms);
}

TEST(MeasureRecovery, WritesOfOtherWritersDoNotCount) {
  const std::vector<Event> events = {incident(t0)};
  std::vector<Ack> acks = steady_writes("orders", t0 - 1000 * ms, t0 + 5000 * ms, t0, t0 + 2000 * ms);
  const std::vector<Ack> other = steady_writes("audit", t0 - 1000 * ms, t0 + 5000 * ms);
  acks.insert(acks.end(), other.begin(), other.end());
  EXPECT_EQ(measure_recovery(events, acks, db_scope({}, {"audit"}), t0 + 5000 * ms).writes_recovered_at, t0 + 2 * ms);
  EXPECT_EQ(measure_recovery(events, acks, db_scope({}, {"orders"}), t0 + 5000 * ms).writes_recovered_at,
            t0 + 2002 * ms);
}

TEST(MeasureRecovery, WritesThatNeverSucceedMeanNotRecovered) {
  const std::vector<Event> events = {probe(base, "db-sql", true), incident(t0)};
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 5000 * ms, t0, t0 + 5000 * ms);
  const RecoveryMeasure m = measure_recovery(events, acks, db_scope({"db-sql"}, {"orders"}));
  EXPECT_FALSE(m.recovered);
  EXPECT_FALSE(m.writes_recovered_at);
  EXPECT_EQ(m.probes_recovered_at, t0);
  EXPECT_NE(m.reason.find("writes of orders"), std::string::npos) << m.reason;
}

TEST(MeasureRecovery, UnsortedInputGivesTheSameAnswer) {
  std::vector<Event> events = {probe(t0 + 2500 * ms, "db-sql", true), incident(t0), probe(base, "db-sql", true),
                               probe(t0 + 40 * ms, "db-sql", false)};
  const RecoveryMeasure m = measure_recovery(events, {}, db_scope(), t0 + 10'000 * ms);
  EXPECT_EQ(m.recovered_at, t0 + 2500 * ms);
  EXPECT_EQ(m.detected_at, t0 + 40 * ms);
}

TEST(IdSet, NumberedAndOtherIds) {
  IdSet set;
  set.insert("run-orders-1");
  set.insert("run-orders-1000000");
  set.insert("run-orders-1");
  set.insert("run-orders-007");
  set.insert("uuid-like-deadbeef");
  set.insert("plain");
  set.insert("run-orders-99999999999");
  EXPECT_EQ(set.size(), 6u);
  EXPECT_TRUE(set.contains("run-orders-1"));
  EXPECT_TRUE(set.contains("run-orders-1000000"));
  EXPECT_TRUE(set.contains("run-orders-007"));
  EXPECT_FALSE(set.contains("run-orders-7"));
  EXPECT_FALSE(set.contains("run-orders-2"));
  EXPECT_FALSE(set.contains("run-orders-2000000"));
  EXPECT_FALSE(set.contains("run-audit-1"));
  EXPECT_TRUE(set.contains("uuid-like-deadbeef"));
  EXPECT_TRUE(set.contains("plain"));
  EXPECT_TRUE(set.contains("run-orders-99999999999"));
  EXPECT_FALSE(set.contains(""));
  const std::vector<std::string> expected = {"run-orders-1",   "run-orders-1000000",     "plain",
                                             "run-orders-007", "run-orders-99999999999", "uuid-like-deadbeef"};
  EXPECT_EQ(set.ids(), expected);
}

TEST(MeasureDataLoss, NoWrites) {
  Readback readback;
  readback.writers["orders"].t = t0;
  const DataLossMeasure m = measure_data_loss({}, readback, t0, {});
  EXPECT_EQ(m.writes_sent, 0);
  EXPECT_EQ(m.lost_acked, 0);
  EXPECT_TRUE(m.readback_available);
  EXPECT_EQ(m.rpo_seconds, 0.0);
}

TEST(MeasureDataLoss, NothingLostMeansRpoZero) {
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 1000 * ms, t0, t0 + 100 * ms);
  const DataLossMeasure m = measure_data_loss(acks, readback_of(acks, "orders", {}), t0, {});
  EXPECT_EQ(m.writes_sent, static_cast<std::int64_t>(acks.size()));
  EXPECT_EQ(m.failed, 10);
  EXPECT_EQ(m.acked, m.writes_sent - 10);
  EXPECT_EQ(m.lost_acked, 0);
  EXPECT_EQ(m.rpo_seconds, 0.0);
  EXPECT_TRUE(m.lost_sample.empty());
}

TEST(MeasureDataLoss, LostWritesBeforeTheIncidentGiveRpo) {
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 1000 * ms);
  // Writes 950..999 were sent at base + 9500..9990 ms, acked 2 ms later; two of them are lost.
  const DataLossMeasure m = measure_data_loss(acks, readback_of(acks, "orders", {"run-orders-990", "run-orders-950"}),
                                              t0, {"orders"});
  EXPECT_EQ(m.lost_acked, 2);
  EXPECT_EQ(m.lost_acked_before_incident, 2);
  EXPECT_EQ(m.lost_acked_after_incident, 0);
  ASSERT_TRUE(m.rpo_seconds);
  EXPECT_DOUBLE_EQ(*m.rpo_seconds, 0.498);  // T0 - (base + 9502 ms)
  EXPECT_EQ(m.lost_sample, (std::vector<std::string>{"run-orders-950", "run-orders-990"}));
}

TEST(MeasureDataLoss, WritesAckedAfterTheIncidentAndLostAreSplitBrain) {
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 1000 * ms);
  const DataLossMeasure m = measure_data_loss(acks, readback_of(acks, "orders", {"run-orders-1010", "run-orders-1020"}),
                                              t0, {});
  EXPECT_EQ(m.lost_acked, 2);
  EXPECT_EQ(m.lost_acked_before_incident, 0);
  EXPECT_EQ(m.lost_acked_after_incident, 2);
  EXPECT_EQ(m.rpo_seconds, 0.0);
}

TEST(MeasureDataLoss, AllLost) {
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 1000 * ms);
  Readback readback;
  readback.writers["orders"].t = t0 + 2000 * ms;
  const DataLossMeasure m = measure_data_loss(acks, readback, t0, {});
  EXPECT_EQ(m.lost_acked, m.acked);
  EXPECT_EQ(m.lost_acked_before_incident, 1000);
  EXPECT_EQ(m.lost_acked_after_incident, 100);
  EXPECT_DOUBLE_EQ(*m.rpo_seconds, 9.998);
  ASSERT_EQ(m.lost_sample.size(), 20u);
  EXPECT_EQ(m.lost_sample.front(), "run-orders-0");
  EXPECT_EQ(m.lost_sample.back(), "run-orders-19");
}

TEST(MeasureDataLoss, WithoutReadbackThereIsNoRpo) {
  const std::vector<Ack> acks = steady_writes("orders", base, t0 + 1000 * ms);
  const DataLossMeasure m = measure_data_loss(acks, Readback{}, t0, {});
  EXPECT_FALSE(m.readback_available);
  EXPECT_FALSE(m.rpo_seconds);
  EXPECT_EQ(m.lost_acked, 0);
  EXPECT_EQ(m.acked, 1100);
}

TEST(MeasureDataLoss, OnlyTheNamedWritersCount) {
  std::vector<Ack> acks = steady_writes("orders", base, t0 + 1000 * ms);
  const std::vector<Ack> audit = steady_writes("audit", base, t0);
  acks.insert(acks.end(), audit.begin(), audit.end());
  const Readback readback = readback_of(acks, "orders", {"run-orders-5"});
  const DataLossMeasure orders = measure_data_loss(acks, readback, t0, {"orders"});
  EXPECT_EQ(orders.writes_sent, 1100);
  EXPECT_EQ(orders.lost_acked, 1);
  // "audit" was never read back: the whole measure has no readback.
  EXPECT_FALSE(measure_data_loss(acks, readback, t0, {}).readback_available);
}

TEST(MeasureDataLoss, AFailedReadBackOfOneWriterLeavesTheOthersLossesAsALowerBound) {
  std::vector<Ack> acks = steady_writes("orders", base, t0 + 1000 * ms);
  const std::vector<Ack> audit = steady_writes("audit", base, t0);
  acks.insert(acks.end(), audit.begin(), audit.end());
  Readback readback = readback_of(acks, "orders", {"run-orders-5", "run-orders-6"});
  readback.writers["audit"].error = "HTTP 401";
  const DataLossMeasure m = measure_data_loss(acks, readback, t0, {});
  EXPECT_FALSE(m.readback_available);
  EXPECT_EQ(m.lost_acked, 0) << "a count that leaves a writer out is no count";
  EXPECT_EQ(m.readback_error,
            "the read-back of 'audit' failed: HTTP 401; at least 2 acknowledged writes of the writers read back are lost");

  // Nothing known lost elsewhere: the reason alone.
  Readback nothing_lost = readback_of(acks, "orders", {});
  nothing_lost.writers["audit"].error = "HTTP 401";
  EXPECT_EQ(measure_data_loss(acks, nothing_lost, t0, {}).readback_error, "the read-back of 'audit' failed: HTTP 401");
}

TEST(MeasureDataLoss, NoIncidentCountsLossWithoutRpo) {
  const std::vector<Ack> acks = steady_writes("orders", base, base + 100 * ms);
  const DataLossMeasure m = measure_data_loss(acks, readback_of(acks, "orders", {"run-orders-3"}), std::nullopt, {});
  EXPECT_EQ(m.lost_acked, 1);
  EXPECT_FALSE(m.rpo_seconds);
}

TEST(WriteStatsTest, LatencyAndErrorRateInAWindow) {
  std::vector<Ack> acks;
  for (int i = 0; i < 100; ++i) acks.push_back(ok_write("w", i, base + i * ms, base + i * ms + (i + 1) * ms));
  for (int i = 100; i < 125; ++i) acks.push_back(failed_write("w", i, base + i * ms));
  acks.push_back(ok_write("w", 999, base + 5000 * ms, base + 5001 * ms));  // outside
  const WriteStats stats = write_stats(acks, base, base + 1000 * ms);
  EXPECT_EQ(stats.sent, 125);
  EXPECT_EQ(stats.ok, 100);
  EXPECT_EQ(stats.failed, 25);
  EXPECT_DOUBLE_EQ(stats.error_rate, 0.2);
  EXPECT_DOUBLE_EQ(*stats.p50_latency_ms, 50);
  EXPECT_DOUBLE_EQ(*stats.p99_latency_ms, 99);
  EXPECT_DOUBLE_EQ(*stats.max_latency_ms, 100);
  EXPECT_DOUBLE_EQ(stats.ok_per_second, 100);
  EXPECT_FALSE(write_stats(acks, base - 10 * ms, base).p50_latency_ms);
}

TEST(ReadbackFile, RoundTripsAndReportsBadLines) {
  std::string pattern = (std::filesystem::temp_directory_path() / "firedrill-readback-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path dir = pattern;
  Readback readback;
  readback.writers["orders"].t = t0 + 123;
  for (const char* id : {"run-orders-3", "run-orders-1", "odd \"quoted\" id"}) readback.writers["orders"].present.insert(id);
  readback.writers["empty"].t = t0;
  write_readback(dir / "readback.jsonl", readback);

  const Readback back = read_readback(dir / "readback.jsonl");
  ASSERT_EQ(back.writers.size(), 2u);
  EXPECT_EQ(back.writers.at("orders").t, t0 + 123);
  EXPECT_EQ(back.writers.at("orders").present.size(), 3u);
  EXPECT_TRUE(back.writers.at("orders").present.contains("odd \"quoted\" id"));
  EXPECT_TRUE(back.writers.at("orders").present.contains("run-orders-3"));
  EXPECT_EQ(back.writers.at("empty").present.size(), 0u);

  std::ofstream(dir / "bad.jsonl") << R"({"writer":"w","t":"2026-11-25T12:00:00Z","present":[]})" << "\n"
                                   << R"({"writer":"v","t":"2026-11-25T12:00:00Z","present":[1]})" << "\n";
  try {
    read_readback(dir / "bad.jsonl");
    FAIL() << "accepted a numeric id";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "bad.jsonl").string() + ":2: a present id is not a string");
  }
  // A writer read back twice (an error line and a present one) is one too many.
  std::ofstream(dir / "twice.jsonl") << R"({"writer":"w","t":"2026-11-25T12:00:00Z","error":"HTTP 401"})" << "\n"
                                     << R"({"writer":"w","t":"2026-11-25T12:00:00Z","present":[]})" << "\n";
  try {
    read_readback(dir / "twice.jsonl");
    FAIL() << "accepted a writer twice";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "twice.jsonl").string() + ":2: a second line for the same writer");
  }
  // An error line round-trips as the writer's read-back error.
  std::ofstream(dir / "failed.jsonl") << R"({"writer":"w","t":"2026-11-25T12:00:00Z","error":"HTTP 401"})" << "\n";
  EXPECT_EQ(read_readback(dir / "failed.jsonl").writers.at("w").error, "HTTP 401");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace firedrill
