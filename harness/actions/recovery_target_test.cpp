#include "harness/actions/recovery_target.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness/actions/action.hpp"

namespace firedrill {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const Micros t0 = parse_rfc3339("2026-11-25T12:00:10.000000Z");

Event event(Micros t, std::string kind, nlohmann::json details) { return {t, std::move(kind), std::move(details)}; }

std::vector<Event> history() {
  return {event(t0 - 8'000'000, event_kind::step_started, {{"step", "warm up"}}),
          event(t0 - 1'000'000, event_kind::step_started, {{"step", "base backup"}}),
          event(t0, event_kind::step_started, {{"step", "bad migration"}}),
          event(t0 + 12'345, "sql.executed", {{"step", "bad migration"}, {"xid", 4242}}),
          event(t0, event_kind::incident, {{"step", "bad migration"}}),
          event(t0 + 2'000'000, event_kind::step_started, {{"step", "restore"}})};
}

std::string failure_of(const std::string& target, const std::string& before, const std::vector<Event>& events) {
  try {
    resolve_recovery_target(target, before, events);
  } catch (const ActionFailed& failure) {
    return failure.what();
  }
  return "no failure";
}

TEST(RecoveryTarget, IncidentMinusADurationIsBeforeT0) {
  const auto target = resolve_recovery_target("incident - 2s", "", history());
  EXPECT_EQ(target.kind, RecoveryTarget::Kind::time);
  EXPECT_EQ(target.time, t0 - 2'000'000);
  EXPECT_EQ(target.description, "incident - 2s (2026-11-25T12:00:08.000000Z)");
  EXPECT_EQ(resolve_recovery_target("incident+250ms", "", history()).time, t0 + 250'000);
  EXPECT_EQ(resolve_recovery_target("incident", "", history()).time, t0);
}

TEST(RecoveryTarget, AbsoluteTimesKeepTheirZone) {
  EXPECT_EQ(resolve_recovery_target("2026-11-25T12:00:01.5Z", "", {}).time, parse_rfc3339("2026-11-25T12:00:01.500000Z"));
  EXPECT_EQ(resolve_recovery_target("2026-11-25T13:00:01+01:00", "", {}).time, parse_rfc3339("2026-11-25T12:00:01Z"));
}

TEST(RecoveryTarget, BeforeASqlStepStopsBeforeItsTransaction) {
  const auto target = resolve_recovery_target("", "bad migration", history());
  EXPECT_EQ(target.kind, RecoveryTarget::Kind::transaction);
  EXPECT_EQ(target.xid, 4242u);
  EXPECT_EQ(target.time, t0 + 12'345);
  EXPECT_THAT(target.description, HasSubstr("just before its transaction 4242"));
}

TEST(RecoveryTarget, BeforeAnyOtherStepIsTheInstantItStarted) {
  const auto target = resolve_recovery_target("", "base backup", history());
  EXPECT_EQ(target.kind, RecoveryTarget::Kind::time);
  EXPECT_EQ(target.time, t0 - 1'000'000);
  EXPECT_EQ(target.description, "before step 'base backup' (started at 2026-11-25T12:00:09.000000Z)");
}

TEST(RecoveryTarget, NeitherMeansTheEndOfTheArchive) {
  EXPECT_EQ(resolve_recovery_target("", "", history()).kind, RecoveryTarget::Kind::end_of_archive);
}

TEST(RecoveryTarget, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(failure_of("", "drop everything", history()),
            "before: step 'drop everything' has not started in this run (steps so far: 'warm up', 'base backup', "
            "'bad migration', 'restore')");
  EXPECT_EQ(failure_of("incident - 2s", "", {}),
            "recovery target 'incident - 2s' is relative to the incident, which has not happened yet");
  EXPECT_EQ(failure_of("incident - 2s", "bad migration", history()),
            "give either to ('incident - 2s') or before ('bad migration'), not both");
  EXPECT_THAT(failure_of("incident - two seconds", "", history()), HasSubstr("recovery target 'incident - two seconds'"));
  EXPECT_THAT(failure_of("incident 2s", "", history()), HasSubstr("expected \"incident\""));
  EXPECT_THAT(failure_of("2026-11-25T12:00:01", "", history()), HasSubstr("RFC 3339"));
  EXPECT_THAT(failure_of("yesterday", "", history()), HasSubstr("RFC 3339"));
}

TEST(RecoveryTarget, TextIsCheckedWithoutAHistory) {
  EXPECT_NO_THROW(check_recovery_target_text("incident - 2s"));
  EXPECT_NO_THROW(check_recovery_target_text("2026-11-25T12:00:01Z"));
  EXPECT_THROW(check_recovery_target_text("incident * 2"), std::invalid_argument);
  EXPECT_THROW(check_recovery_target_text(""), std::invalid_argument);
}

TEST(RecoveryTarget, SettingsPromoteAtTheTarget) {
  RecoveryTarget time{RecoveryTarget::Kind::time, t0, 0, ""};
  EXPECT_EQ(recovery_settings(time, "cp /a/%f %p"),
            "restore_command = 'cp /a/%f %p'\n"
            "recovery_target_time = '2026-11-25 12:00:10.000000+00'\n"
            "recovery_target_inclusive = off\n"
            "recovery_target_action = 'promote'\n");
  RecoveryTarget transaction{RecoveryTarget::Kind::transaction, t0, 4242, ""};
  EXPECT_THAT(recovery_settings(transaction, "x"), HasSubstr("recovery_target_xid = '4242'\n"));
  EXPECT_EQ(recovery_settings(RecoveryTarget{}, "it's"), "restore_command = 'it''s'\n");
}

TEST(WalArchive, SegmentsFollowEachOther) {
  EXPECT_EQ(next_wal_segment("000000010000000000000009"), "00000001000000000000000A");
  EXPECT_EQ(next_wal_segment("0000000100000000000000FF"), "000000010000000100000000");
  EXPECT_THROW(next_wal_segment("00000001.history"), std::invalid_argument);
}

TEST(WalArchive, AGapIsNamed) {
  const std::vector<std::string> archived = {"000000010000000000000003.gz", "000000010000000000000004.gz",
                                             "000000010000000000000006.gz", "000000010000000000000007.partial.gz",
                                             "00000002.history.gz",        "000000020000000000000009.gz"};
  EXPECT_THAT(missing_wal_segments(archived, "000000010000000000000003"), ElementsAre("000000010000000000000005"));
  EXPECT_THAT(missing_wal_segments(archived, "000000010000000000000002"),
              ElementsAre("000000010000000000000002", "000000010000000000000005"));
  EXPECT_TRUE(missing_wal_segments(archived, "000000010000000000000006").empty());
  EXPECT_TRUE(missing_wal_segments({}, "000000010000000000000006").empty());
}

}  // namespace
}  // namespace firedrill
