#include "harness/rehearse/screen.hpp"

#include <gtest/gtest.h>

namespace firedrill {
namespace {

constexpr Micros second = 1'000'000;

ScreenState promoting_by_hand() {
  ScreenState state;
  state.scenario = "pg-primary-kill-promote";
  state.run_id = "20261125-183000-ab12";
  state.phase = "drill";
  state.incident_at = 100 * second;
  state.now = 142 * second + 300'000;
  state.rto_target = std::chrono::seconds(30);
  state.step_index = 2;
  state.step_count = 6;
  state.step_name = "promote the standby";
  state.step_started = 103 * second;
  state.human = true;
  state.budget = std::chrono::seconds(60);
  state.instruction = "Promote the standby db-standby-1 to primary (runbook Minute 4-5: Database Failover).";
  state.commands = {"docker exec fd-20261125-183000-ab12-db-standby-1 psql -U postgres -c 'SELECT pg_promote()'",
                    "PGPASSFILE=/work/runs/20261125-183000-ab12/rehearsal.pgpass psql -h 127.0.0.1 -p 32771 -U postgres -d app"};
  state.automatable = true;
  state.probes = {{"app-health", false}, {"standby-sql", true}};
  state.acked_per_second = 0;
  state.failed_per_second = 37;
  state.acked = 1234;
  state.failed = 410;
  for (int i = 0; i < 12; ++i) state.last_events.push_back("   0:0" + std::to_string(i % 10) + ".0 event number " + std::to_string(i));
  return state;
}

std::string plain_screen(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += strip_ansi(line) + "\n";
  return text;
}

TEST(Screen, FillsExactly80By24) {
  auto lines = render_screen(promoting_by_hand(), 80, 24);
  ASSERT_EQ(lines.size(), 24u);
  for (const auto& line : lines) EXPECT_LE(visible_width(line), 80u) << strip_ansi(line);
}

// Under load the harness's own events and flapping probes come fast: the incident, which the RTO
// clock counts from, stays in view however many follow it.
TEST(Screen, TheIncidentStaysInViewWhenLaterEventsWouldScrollItAway) {
  ScreenState state = promoting_by_hand();
  state.last_events.insert(state.last_events.begin() + 2, "   0:17.9 INCIDENT (T0): the RTO clock starts");
  const auto text = plain_screen(render_screen(state, 80, 24));
  EXPECT_NE(text.find("INCIDENT (T0)"), std::string::npos) << text;
  EXPECT_NE(text.find("event number 11"), std::string::npos) << text;
  EXPECT_EQ(text.find("event number 2\n"), std::string::npos) << text;
}

TEST(Screen, ShowsTheRtoClockTheStepAndItsBudget) {
  auto text = plain_screen(render_screen(promoting_by_hand(), 80, 24));
  EXPECT_NE(text.find("RTO 0:42.3"), std::string::npos) << text;
  EXPECT_NE(text.find("target 0:30.0"), std::string::npos) << text;
  EXPECT_NE(text.find("Step 3/6 · promote the standby"), std::string::npos) << text;
  EXPECT_NE(text.find("elapsed 0:39.3  budget 1:00.0 (0:20.7 left)"), std::string::npos) << text;
  EXPECT_NE(text.find("app-health DOWN"), std::string::npos) << text;
  EXPECT_NE(text.find("standby-sql up"), std::string::npos) << text;
  EXPECT_NE(text.find("acked 0/s  failing 37/s   (total 1234 acked, 410 failed)"), std::string::npos) << text;
  EXPECT_NE(text.find("Enter done · s skip · r firedrill does it · a abort · ? help"), std::string::npos) << text;
  EXPECT_NE(text.find("event number 11"), std::string::npos) << "the newest event is shown\n" << text;
}

TEST(Screen, CommandsWrapWithoutLosingCharacters) {
  auto lines = render_screen(promoting_by_hand(), 80, 24);
  std::string joined;
  bool in_command = false;
  for (const auto& line : lines) {
    std::string plain = strip_ansi(line);
    if (plain.rfind("  $ docker exec", 0) == 0) {
      in_command = true;
      joined = plain.substr(4);
    } else if (in_command && plain.rfind("      ", 0) == 0) {
      ASSERT_EQ(joined.substr(joined.size() - 2), " \\") << "a shell continuation ends the line: " << joined;
      joined = joined.substr(0, joined.size() - 2) + " " + plain.substr(6);
    } else if (in_command) {
      break;
    }
  }
  EXPECT_EQ(joined, "docker exec fd-20261125-183000-ab12-db-standby-1 psql -U postgres -c 'SELECT pg_promote()'");
}

TEST(Screen, CommandsBreakOnlyOutsideQuotes) {
  ScreenState state = promoting_by_hand();
  state.commands = {"docker exec fd-20261125-183000-ab12-cache sh -c 'grep -v \"[[:space:]]db$\" /etc/hosts >/tmp/hosts; "
                    "echo \"198.18.0.3 db\" >>/tmp/hosts'"};
  auto text = plain_screen(render_screen(state, 80, 24));
  EXPECT_NE(text.find("  $ docker exec fd-20261125-183000-ab12-cache sh -c \\\n"), std::string::npos) << text;
}

TEST(Screen, BudgetTurnsRedWhenOver) {
  ScreenState state = promoting_by_hand();
  state.now = state.step_started + 75 * second;
  auto lines = render_screen(state, 80, 24);
  auto text = plain_screen(lines);
  EXPECT_NE(text.find("budget 1:00.0 OVER by 0:15.0"), std::string::npos) << text;
  bool red = false;
  for (const auto& line : lines)
    if (line.find("\033[1;31mbudget 1:00.0 OVER") != std::string::npos) red = true;
  EXPECT_TRUE(red);

  state.now = state.step_started + 10 * second;
  for (const auto& line : render_screen(state, 80, 24)) EXPECT_EQ(line.find("OVER"), std::string::npos);
}

TEST(Screen, ClockStopsAtRecoveryAndWaitsBeforeTheIncident) {
  ScreenState state = promoting_by_hand();
  state.recovered_at = 118 * second;
  auto text = plain_screen(render_screen(state, 80, 24));
  EXPECT_NE(text.find("RTO 0:18.0  recovered (clock stopped)"), std::string::npos) << text;

  state.incident_at.reset();
  text = plain_screen(render_screen(state, 80, 24));
  EXPECT_NE(text.find("RTO --:--.-  the clock starts at the incident"), std::string::npos) << text;
}

TEST(Screen, AutomatedStepOffersOnlyAbortAndHelp) {
  ScreenState state = promoting_by_hand();
  state.human = false;
  state.budget.reset();
  auto text = plain_screen(render_screen(state, 80, 24));
  EXPECT_NE(text.find("[automated]"), std::string::npos);
  EXPECT_EQ(text.find("pg_promote"), std::string::npos);
  EXPECT_NE(text.find(" a abort · ? help"), std::string::npos);
}

TEST(Screen, HelpListsEveryKey) {
  ScreenState state = promoting_by_hand();
  state.help = true;
  auto text = plain_screen(render_screen(state, 80, 24));
  for (const char* key : {"Enter  the current step is done", "s      skip", "r      let firedrill", "a      abort", "?      show"})
    EXPECT_NE(text.find(key), std::string::npos) << key;
}

TEST(Screen, TooManyCommandsGiveWayToEvents) {
  ScreenState state = promoting_by_hand();
  for (int i = 0; i < 20; ++i) state.commands.push_back("echo " + std::to_string(i));
  auto lines = render_screen(state, 80, 24);
  ASSERT_EQ(lines.size(), 24u);
  auto text = plain_screen(lines);
  EXPECT_NE(text.find("too small to show the rest"), std::string::npos);
  EXPECT_NE(text.find("event number 11"), std::string::npos);
  EXPECT_NE(text.find("Writes"), std::string::npos);
}

TEST(Screen, LargerTerminalsGetLongerLines) {
  auto lines = render_screen(promoting_by_hand(), 132, 40);
  ASSERT_EQ(lines.size(), 40u);
  auto text = plain_screen(lines);
  EXPECT_NE(text.find("  $ docker exec fd-20261125-183000-ab12-db-standby-1 psql -U postgres -c 'SELECT pg_promote()'"),
            std::string::npos);
}

TEST(Screen, ClockText) {
  EXPECT_EQ(clock_text(0), "0:00.0");
  EXPECT_EQ(clock_text(83'450'000), "1:23.4");
  EXPECT_EQ(clock_text(3'723 * second), "1:02:03");
  EXPECT_EQ(clock_text(-1'500'000), "-0:01.5");
}

TEST(Screen, EventLines) {
  EXPECT_EQ(event_line({12 * second, "probe", {{"probe", "app-health"}, {"ok", false}}}, 0), "  0:12.0 probe app-health DOWN");
  EXPECT_EQ(event_line({2 * second, "incident", {}}, 0), "  0:02.0 INCIDENT (T0): the RTO clock starts");
  EXPECT_EQ(event_line({3 * second, "step.finished", {{"step", "promote"}, {"outcome", "ok"}}}, second),
            "  0:02.0 step 'promote' ok");
}

}  // namespace
}  // namespace firedrill
