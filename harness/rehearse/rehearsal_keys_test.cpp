// The scenario keys only a rehearsal uses: `manual:` on an action, `budget:` and `until:`.
#include <gtest/gtest.h>

#include "harness/cli/commands.hpp"
#include "harness/scenario/loader.hpp"

namespace firedrill {
namespace {

const char* header = R"(version: 1
name: keys
services:
  db: { kind: postgres, standbys: 1 }
  app: { kind: app, env: { DATABASE_URL: "${db.url}" } }
steps:
)";

Scenario load(const std::string& steps) {
  LoadOptions options;
  options.vocabulary = registered_vocabulary();
  return parse_scenario(std::string(header) + steps, "keys.yaml", options);
}

std::string error_of(const std::string& steps) {
  try {
    load(steps);
  } catch (const ScenarioError& error) {
    return error.what();
  }
  return "no error";
}

TEST(RehearsalKeys, ActionCarriesManualTextBudgetAndUntil) {
  auto scenario = load(R"Y(  - name: promote
    action: promote
    target: db-standby-1
    manual: "Promote it by hand"
    budget: 2m
    until: { sql: "SELECT NOT pg_is_in_recovery()", service: db-standby-1 }
)Y");
  ASSERT_EQ(scenario.steps.size(), 1u);
  const StepSpec& step = scenario.steps[0];
  EXPECT_EQ(step.verb, StepVerb::action);
  EXPECT_EQ(step.what, "promote");
  EXPECT_EQ(step.manual, "Promote it by hand");
  EXPECT_EQ(step.budget, std::chrono::minutes(2));
  ASSERT_TRUE(step.until);
  EXPECT_EQ(step.until->sql, "SELECT NOT pg_is_in_recovery()");
  EXPECT_EQ(step.until->service, "db-standby-1");
}

TEST(RehearsalKeys, ManualStepWaitsForHealth) {
  auto scenario = load("  - { name: check, manual: \"Look at the app\", until: { healthy: app }, budget: 30s }\n");
  const StepSpec& step = scenario.steps[0];
  EXPECT_EQ(step.verb, StepVerb::manual);
  EXPECT_EQ(step.what, "Look at the app");
  EXPECT_EQ(step.until->healthy, "app");
  EXPECT_EQ(step.budget, std::chrono::seconds(30));
}

TEST(RehearsalKeys, MistakesAreNamedWhereTheyAre) {
  EXPECT_NE(error_of("  - { name: x, manual: hi, until: { healthy: ap } }\n").find("keys.yaml:7:46: unknown service 'ap'"),
            std::string::npos)
      << error_of("  - { name: x, manual: hi, until: { healthy: ap } }\n");
  EXPECT_NE(error_of("  - { name: x, manual: hi, until: { sql: \"SELECT 1\", service: app } }\n").find("'app' is not one"),
            std::string::npos);
  EXPECT_NE(error_of("  - { name: x, manual: hi, until: { sql: \"SELECT 1\" } }\n").find("needs the 'service'"),
            std::string::npos);
  EXPECT_NE(error_of("  - { name: x, manual: hi, until: { healthy: app, sql: \"SELECT 1\" } }\n").find("exactly one of"),
            std::string::npos);
  EXPECT_NE(error_of("  - { name: x, manual: hi, until: { helthy: app } }\n").find("unknown until key 'helthy'"),
            std::string::npos);
  EXPECT_NE(error_of("  - { name: x, action: promote, target: db-standby-1, budget: 1m }\n")
                .find("'budget' on an action applies to its rehearsal: give the action a 'manual' text too"),
            std::string::npos);
  EXPECT_NE(error_of("  - { name: x, wait: 1s, budget: 1m }\n").find("unknown key 'budget' in a wait step"),
            std::string::npos);
  EXPECT_NE(error_of("  - { name: x, manual: hi, budget: soon }\n").find("keys.yaml:7:"), std::string::npos);
}

TEST(RehearsalKeys, HealthNeedsAProbeToTellIt) {
  LoadOptions options;
  options.vocabulary = registered_vocabulary();
  const std::string text = R"(version: 1
name: keys
services:
  db: { kind: postgres }
  app: { kind: app, env: { DATABASE_URL: "${db.url}" } }
probes:
  - { name: db-sql, sql: { service: db } }
steps:
  - { name: x, manual: hi, until: { healthy: app } }
)";
  try {
    parse_scenario(text, "keys.yaml", options);
    ADD_FAILURE() << "accepted a health no probe can tell";
  } catch (const ScenarioError& error) {
    EXPECT_NE(std::string(error.what()).find("keys.yaml:9:46: no probe watches 'app'"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace firedrill
