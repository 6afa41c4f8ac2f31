#include "harness/services/standby.hpp"

#include <gtest/gtest.h>

#include "harness/services/registry.hpp"
#include "harness/services/service.hpp"

namespace firedrill {
namespace {

Scenario with_database(int standbys, bool sync, std::vector<std::string> command = {}) {
  Scenario scenario;
  ServiceSpec db;
  db.name = "db";
  db.kind = "postgres";
  db.image = "firedrill/postgres:15";
  db.standbys = standbys;
  db.sync = sync;
  db.command = std::move(command);
  db.env["POSTGRES_USER"] = "shop";
  ServiceSpec app;
  app.name = "app";
  app.kind = "app";
  scenario.services = {db, app};
  return scenario;
}

TEST(StandbyServices, AScenarioWithoutStandbysIsUnchanged) {
  Scenario expanded = with_derived_services(with_database(0, false));
  ASSERT_EQ(expanded.services.size(), 2u);
  EXPECT_TRUE(expanded.services[0].command.empty());
  EXPECT_FALSE(expanded.services[0].env.count("POSTGRES_PASSWORD"));
}

TEST(StandbyServices, StandbysFollowTheirPrimaryAndShareItsCredentials) {
  Scenario expanded = with_derived_services(with_database(2, false));
  ASSERT_EQ(expanded.services.size(), 4u);
  EXPECT_EQ(expanded.services[0].name, "db");
  EXPECT_EQ(expanded.services[1].name, "db-standby-1");
  EXPECT_EQ(expanded.services[2].name, "db-standby-2");
  EXPECT_EQ(expanded.services[3].name, "app");
  const ServiceSpec& primary = expanded.services[0];
  const ServiceSpec& standby = expanded.services[1];
  EXPECT_EQ(standby.kind, "postgres");
  EXPECT_EQ(standby.standby_of, "db");
  EXPECT_EQ(standby.image, primary.image);
  EXPECT_EQ(standby.env.at("POSTGRES_USER"), "shop");
  EXPECT_EQ(standby.env.at("POSTGRES_PASSWORD"), primary.env.at("POSTGRES_PASSWORD"));
  EXPECT_EQ(standby.env.at("POSTGRES_PASSWORD").size(), 36u);
  // The reference is what makes the engine start the standby after its primary.
  EXPECT_EQ(standby.env.at("FIREDRILL_PRIMARY_HOST"), "${db.host}");
  EXPECT_EQ(standby.env.at("FIREDRILL_STANDBY_NAME"), "db-standby-1");
  EXPECT_EQ(standby.env.at("FIREDRILL_REPLICATION_PASSWORD"),
            expanded.services[2].env.at("FIREDRILL_REPLICATION_PASSWORD"));
  EXPECT_NE(standby.env.at("FIREDRILL_REPLICATION_PASSWORD"), primary.env.at("POSTGRES_PASSWORD"));
  EXPECT_TRUE(primary.command.empty()) << "an asynchronous primary runs unchanged";
}

TEST(StandbyServices, BothPasswordsAreSecretsOfTheStandby) {
  Scenario expanded = with_derived_services(with_database(1, false));
  auto standby = make_service(expanded.services[1]);
  auto secrets = standby->secrets();
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), expanded.services[1].env.at("POSTGRES_PASSWORD")), secrets.end());
  EXPECT_NE(std::find(secrets.begin(), secrets.end(), expanded.services[1].env.at("FIREDRILL_REPLICATION_PASSWORD")),
            secrets.end());
}

TEST(StandbyServices, SyncNamesEveryStandbyOnThePrimary) {
  Scenario expanded = with_derived_services(with_database(2, true));
  EXPECT_EQ(expanded.services[0].command,
            (std::vector<std::string>{"postgres", "-c", R"(synchronous_standby_names=FIRST 1 ("db-standby-1", "db-standby-2"))"}));
  Scenario tuned = with_derived_services(with_database(1, true, {"postgres", "-c", "fsync=off"}));
  EXPECT_EQ(tuned.services[0].command, (std::vector<std::string>{"postgres", "-c", "fsync=off", "-c",
                                                                 R"(synchronous_standby_names=FIRST 1 ("db-standby-1"))"}));
}

TEST(StandbyServices, EachRunHasPasswordsOfItsOwn) {
  const Scenario loaded = with_derived_services(with_database(2, false));
  ASSERT_EQ(loaded.generated_secrets.size(), 2u);
  const Scenario run = with_fresh_secrets(loaded);
  ASSERT_EQ(run.generated_secrets.size(), 2u);
  const std::string password = run.services[0].env.at("POSTGRES_PASSWORD");
  EXPECT_NE(password, loaded.services[0].env.at("POSTGRES_PASSWORD"));
  EXPECT_EQ(password, run.generated_secrets[0]);
  EXPECT_EQ(run.services[1].env.at("POSTGRES_PASSWORD"), password) << "the standbys still share it";
  EXPECT_EQ(run.services[2].env.at("FIREDRILL_REPLICATION_PASSWORD"),
            run.services[1].env.at("FIREDRILL_REPLICATION_PASSWORD"));
  EXPECT_NE(run.services[1].env.at("FIREDRILL_REPLICATION_PASSWORD"),
            loaded.services[1].env.at("FIREDRILL_REPLICATION_PASSWORD"));
  EXPECT_EQ(run.services[1].env.at("POSTGRES_USER"), "shop");
}

TEST(StandbyServices, AScenarioPasswordIsKept) {
  Scenario scenario = with_database(1, false);
  scenario.services[0].env["POSTGRES_PASSWORD"] = "chosen";
  Scenario expanded = with_derived_services(scenario);
  EXPECT_EQ(expanded.services[0].env.at("POSTGRES_PASSWORD"), "chosen");
  EXPECT_EQ(expanded.services[1].env.at("POSTGRES_PASSWORD"), "chosen");
}

}  // namespace
}  // namespace firedrill
