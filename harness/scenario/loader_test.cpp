#include "harness/scenario/loader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace firedrill {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

Vocabulary test_vocabulary() {
  Vocabulary vocabulary;
  vocabulary.faults["kill"] = VerbSpec{
      "kill",
      "kill the main process",
      true,
      {ParamSpec{"signal", ParamType::string, false, ""}, ParamSpec{"restart_after", ParamType::duration, false, ""}}};
  vocabulary.faults["pause"] = VerbSpec{"pause", "freeze the service", true, {}};
  vocabulary.faults["partition"] = VerbSpec{
      "partition",
      "cut the network",
      true,
      {ParamSpec{"from", ParamType::service_list, false, ""}, ParamSpec{"loss", ParamType::percent, false, ""}}};
  vocabulary.actions["restart"] =
      VerbSpec{"restart", "restart a service", true, {ParamSpec{"grace", ParamType::duration, false, ""}}};
  vocabulary.actions["promote"] = VerbSpec{"promote", "promote a standby", true, {}};
  vocabulary.checks["rto"] = VerbSpec{"rto", "recovery time", false, {}};
  vocabulary.checks["rpo"] = VerbSpec{"rpo", "recovery point", false, {}};
  vocabulary.checks["lost_acked_writes"] =
      VerbSpec{"lost_acked_writes", "lost writes", false, {ParamSpec{"max", ParamType::integer, false, ""}}};
  vocabulary.checks["integrity"] =
      VerbSpec{"integrity",
               "data integrity",
               false,
               {ParamSpec{"sql", ParamType::string, true, ""}, ParamSpec{"expect", ParamType::string, true, ""}}};
  return vocabulary;
}

LoadOptions test_options() { return LoadOptions{test_vocabulary(), {}}; }

// The example of DESIGN.md's "Scenario format v1", unchanged.
const char* const design_example = R"(version: 1
name: pg-primary-failover                # [a-z0-9-]+, unique in a suite
description: Kill the Postgres primary; promote the standby; the app follows.
runbook: "PAKE DR runbook §8, Automated Failover"   # free text, copied into the report
targets:                                  # objectives, like a runbook's RTO/RPO table
  overall: { rto: 30s, rpo: 0s }
  db:      { rto: 15s, rpo: 5m }
services:
  db:    { kind: postgres, standbys: 1 }  # image defaults per kind; env, command, volumes optional
  cache: { kind: redis, persistence: aof }
  app:
    kind: app
    image: firedrill/app:latest
    port: 8080
    health: /health
    env: { DATABASE_URL: "${db.url}", REDIS_URL: "${cache.url}" }
workload:
  - { name: orders, through: app, rate: 200/s, concurrency: 4 }
probes:                                   # optional; default: every service's health
  - { name: app-health, http: { service: app, path: /health }, interval: 20ms }
steps:
  - { name: warm up, wait: 5s }
  - { name: primary dies, fault: kill, target: db, incident: true }   # incident marks T0
  - { name: promote standby, action: promote, target: db-standby-1 }
  - { name: recovered, await: recovered, stable: 1s, timeout: 120s }
  - { name: announce, manual: "Post the all-clear in #incidents" }   # timed in rehearse mode, skipped in CI
checks:
  - { rto: overall }
  - { rpo: db }
  - { lost_acked_writes: db, max: 0 }
  - { integrity: db, sql: "SELECT count(*) FROM orders", expect: ">= acked" }
)";

// Lines 1-5 of most error cases below.
const std::string head =
    "version: 1\n"
    "name: t\n"
    "services:\n"
    "  db: { kind: postgres }\n"
    "  app: { kind: app }\n";

std::string error_of(const std::string& text, const LoadOptions& options = test_options()) {
  try {
    parse_scenario(text, "scenarios/x.yaml", options);
  } catch (const ScenarioError& e) {
    return e.what();
  }
  return "no error";
}

/// The expected text of one diagnostic whose source line has only ASCII before the column.
std::string diagnostic(int line, int column, const std::string& message, const std::string& source) {
  return "scenarios/x.yaml:" + std::to_string(line) + ":" + std::to_string(column) + ": " + message + "\n    " +
         source + "\n    " + std::string(static_cast<std::size_t>(column - 1), ' ') + "^";
}

TEST(LoadScenario, ReadsTheDesignExampleWithEveryField) {
  const Scenario s = parse_scenario(design_example, "scenarios/pg-primary-failover.yaml", test_options());
  EXPECT_EQ(s.version, 1);
  EXPECT_EQ(s.name, "pg-primary-failover");
  EXPECT_EQ(s.description, "Kill the Postgres primary; promote the standby; the app follows.");
  EXPECT_EQ(s.runbook, "PAKE DR runbook §8, Automated Failover");
  EXPECT_EQ(s.file, "scenarios/pg-primary-failover.yaml");
  EXPECT_EQ(s.sha256.size(), 64u);

  ASSERT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.targets.at("overall").rto, seconds(30));
  EXPECT_EQ(s.targets.at("overall").rpo, seconds(0));
  EXPECT_EQ(s.targets.at("db").rto, seconds(15));
  EXPECT_EQ(s.targets.at("db").rpo, minutes(5));
  EXPECT_EQ(s.targets.at("db").where.line, 7);
  EXPECT_EQ(s.targets.at("db").where.column, 3);

  ASSERT_EQ(s.services.size(), 4u) << "db's standby is derived when the scenario is loaded";
  const ServiceSpec& db = s.services[0];
  EXPECT_EQ(db.name, "db");
  EXPECT_EQ(db.kind, "postgres");
  EXPECT_EQ(db.image, "firedrill/postgres:15");
  EXPECT_EQ(db.standbys, 1);
  EXPECT_FALSE(db.port);
  EXPECT_EQ(db.env.size(), 1u) << "only the generated password the standby shares";
  EXPECT_EQ(db.env.count("POSTGRES_PASSWORD"), 1u);
  EXPECT_TRUE(db.command.empty());
  EXPECT_EQ(s.services[1].name, "db-standby-1");
  EXPECT_EQ(s.services[1].standby_of, "db");
  EXPECT_EQ(db.where.file, "scenarios/pg-primary-failover.yaml");
  EXPECT_EQ(db.where.line, 9);
  EXPECT_EQ(db.where.column, 3);
  const ServiceSpec& cache = s.services[2];
  EXPECT_EQ(cache.name, "cache");
  EXPECT_EQ(cache.kind, "redis");
  EXPECT_EQ(cache.image, "firedrill/redis:7");
  EXPECT_EQ(cache.persistence, "aof");
  const ServiceSpec& app = s.services[3];
  EXPECT_EQ(app.kind, "app");
  EXPECT_EQ(app.image, "firedrill/app:latest");
  EXPECT_EQ(app.port, 8080);
  EXPECT_EQ(app.health, "/health");
  EXPECT_EQ(app.env,
            (std::map<std::string, std::string>{{"DATABASE_URL", "${db.url}"}, {"REDIS_URL", "${cache.url}"}}));
  EXPECT_EQ(s.service("app"), &app);

  ASSERT_EQ(s.workload.size(), 1u);
  EXPECT_EQ(s.workload[0].name, "orders");
  EXPECT_EQ(s.workload[0].through, "app");
  EXPECT_DOUBLE_EQ(s.workload[0].rate_per_second, 200);
  EXPECT_EQ(s.workload[0].concurrency, 4);
  EXPECT_FALSE(s.workload[0].timeout);
  EXPECT_EQ(s.workload[0].where.line, 18);

  ASSERT_EQ(s.probes.size(), 1u);
  EXPECT_EQ(s.probes[0].name, "app-health");
  EXPECT_EQ(s.probes[0].type, "http");
  EXPECT_EQ(s.probes[0].service, "app");
  EXPECT_EQ(s.probes[0].path, "/health");
  EXPECT_EQ(s.probes[0].interval, milliseconds(20));
  EXPECT_FALSE(s.probes[0].timeout);

  ASSERT_EQ(s.steps.size(), 5u);
  EXPECT_EQ(s.steps[0].name, "warm up");
  EXPECT_EQ(s.steps[0].verb, StepVerb::wait);
  EXPECT_EQ(s.steps[0].duration, seconds(5));
  EXPECT_EQ(s.steps[1].name, "primary dies");
  EXPECT_EQ(s.steps[1].verb, StepVerb::fault);
  EXPECT_EQ(s.steps[1].what, "kill");
  EXPECT_EQ(s.steps[1].target, "db");
  EXPECT_TRUE(s.steps[1].incident);
  EXPECT_FALSE(s.steps[1].duration);
  EXPECT_TRUE(s.steps[1].params.empty());
  EXPECT_EQ(s.steps[1].where.line, 23);
  EXPECT_EQ(s.steps[1].where.column, 5);
  EXPECT_EQ(s.steps[2].verb, StepVerb::action);
  EXPECT_EQ(s.steps[2].what, "promote");
  EXPECT_EQ(s.steps[2].target, "db-standby-1");
  EXPECT_FALSE(s.steps[2].incident);
  EXPECT_EQ(s.steps[3].verb, StepVerb::await);
  EXPECT_EQ(s.steps[3].what, "recovered");
  EXPECT_EQ(s.steps[3].target, "overall");
  EXPECT_EQ(s.steps[3].stable, seconds(1));
  EXPECT_EQ(s.steps[3].timeout, seconds(120));
  EXPECT_EQ(s.steps[4].verb, StepVerb::manual);
  EXPECT_EQ(s.steps[4].what, "Post the all-clear in #incidents");

  ASSERT_EQ(s.checks.size(), 4u);
  EXPECT_EQ(s.checks[0].kind, "rto");
  EXPECT_EQ(s.checks[0].subject, "overall");
  EXPECT_EQ(s.checks[1].kind, "rpo");
  EXPECT_EQ(s.checks[1].subject, "db");
  EXPECT_EQ(s.checks[2].kind, "lost_acked_writes");
  EXPECT_EQ(s.checks[2].params.at("max").text, "0");
  EXPECT_EQ(s.checks[2].params.at("max").where.line, 30);
  EXPECT_EQ(s.checks[2].params.at("max").where.column, 35);
  EXPECT_EQ(s.checks[3].kind, "integrity");
  EXPECT_EQ(s.checks[3].params.at("sql").text, "SELECT count(*) FROM orders");
  EXPECT_EQ(s.checks[3].params.at("expect").text, ">= acked");
}

TEST(LoadScenario, AddsOneDefaultProbePerServiceWhenProbesAreAbsent) {
  const Scenario s = parse_scenario(
      "version: 1\n"
      "name: defaults\n"
      "services:\n"
      "  db: { kind: postgres }\n"
      "  cache: { kind: redis }\n"
      "  web: { kind: app, health: /ready }\n"
      "  proxy: { kind: container, image: haproxy:2, port: 80 }\n"
      "  batch: { kind: container, image: busybox }\n",
      "d.yaml", test_options());
  ASSERT_EQ(s.probes.size(), 4u);
  EXPECT_EQ(s.probes[0].name, "db-sql");
  EXPECT_EQ(s.probes[0].type, "sql");
  EXPECT_EQ(s.probes[0].service, "db");
  EXPECT_EQ(s.probes[0].query, "SELECT 1");
  EXPECT_EQ(s.probes[1].name, "cache-ping");
  EXPECT_EQ(s.probes[1].type, "redis");
  EXPECT_EQ(s.probes[2].name, "web-health");
  EXPECT_EQ(s.probes[2].type, "http");
  EXPECT_EQ(s.probes[2].path, "/ready");
  EXPECT_EQ(s.probes[3].name, "proxy-tcp");
  EXPECT_EQ(s.probes[3].type, "tcp");
  EXPECT_EQ(s.probes[3].service, "proxy");
  for (const auto& probe : s.probes) EXPECT_EQ(probe.interval, milliseconds(20));
  EXPECT_EQ(s.service("web")->port, 8080);
  EXPECT_EQ(s.service("cache")->persistence, "rdb");
}

TEST(LoadScenario, AnExplicitEmptyProbeListMeansNoProbes) {
  const Scenario s = parse_scenario(head + "probes: []\n", "d.yaml", test_options());
  EXPECT_TRUE(s.probes.empty());
}

TEST(LoadScenario, ReadsParamsCommandsVolumesAndProbeDefaults) {
  const Scenario s =
      parse_scenario(head +
                         "  worker:\n"
                         "    kind: container\n"
                         "    image: busybox\n"
                         "    command: [sh, -c, \"nc ${db.host} ${db.port}\"]\n"
                         "    volumes: [data:/data, /scratch]\n"
                         "  shell: { kind: container, image: busybox, command: \"sleep 1\" }\n"
                         "probes:\n"
                         "  - { name: q, sql: { service: db }, interval: 1ms, timeout: 2s }\n"
                         "  - { name: h, http: { service: app } }\n"
                         "steps:\n"
                         "  - name: cut\n"
                         "    fault: partition\n"
                         "    target: db\n"
                         "    from: [app, worker]\n"
                         "    loss: 20%\n"
                         "    duration: 10s\n"
                         "  - { name: bounce, action: restart, target: app, grace: 1.5s, timeout: 1m }\n",
                     "p.yaml", test_options());
  const ServiceSpec& worker = *s.service("worker");
  EXPECT_EQ(worker.command, (std::vector<std::string>{"sh", "-c", "nc ${db.host} ${db.port}"}));
  EXPECT_EQ(worker.volumes, (std::vector<std::string>{"data:/data", "/scratch"}));
  EXPECT_EQ(s.service("shell")->command, (std::vector<std::string>{"/bin/sh", "-c", "sleep 1"}));
  ASSERT_EQ(s.probes.size(), 2u);
  EXPECT_EQ(s.probes[0].query, "SELECT 1");
  EXPECT_EQ(s.probes[0].interval, milliseconds(1));
  EXPECT_EQ(s.probes[0].timeout, seconds(2));
  EXPECT_EQ(s.probes[1].path, "/health");
  const StepSpec& cut = s.steps[0];
  EXPECT_EQ(cut.duration, seconds(10));
  EXPECT_TRUE(cut.params.at("from").is_list);
  EXPECT_EQ(cut.params.at("from").items, (std::vector<std::string>{"app", "worker"}));
  EXPECT_EQ(cut.params.at("loss").text, "20");
  EXPECT_EQ(cut.params.at("loss").where.line, 20);
  EXPECT_EQ(s.steps[1].params.at("grace").text, "1.5s");
  EXPECT_EQ(s.steps[1].params.at("grace").duration, milliseconds(1500));
  EXPECT_FALSE(cut.params.at("loss").duration);
  EXPECT_EQ(s.steps[1].timeout, minutes(1));
}

TEST(LoadScenario, SubstitutesVarsAnywhereAScalarIs) {
  LoadOptions options = test_options();
  options.vars = {{"IMAGE", "postgres:16"}, {"N", "2"}};
  const Scenario s = parse_scenario(
      "version: 1\nname: v\nservices:\n  db:\n    kind: postgres\n    image: ${var.IMAGE}\n    standbys: ${var.N}\n",
      "v.yaml", options);
  EXPECT_EQ(s.services[0].image, "postgres:16");
  EXPECT_EQ(s.services[0].standbys, 2);
  EXPECT_EQ(s.vars, options.vars);
}

// Security review 2, L8: controls select runs by `scenario.tags`, which no scenario could carry.
TEST(LoadScenario, ReadsTagsAndRefusesAnEmptyOne) {
  const Scenario s = parse_scenario("version: 1\nname: t\ntags: [failover, soc2-cc7]\n", "t.yaml", test_options());
  EXPECT_EQ(s.tags, (std::vector<std::string>{"failover", "soc2-cc7"}));
  EXPECT_TRUE(parse_scenario("version: 1\nname: t\n", "t.yaml", test_options()).tags.empty());
  try {
    parse_scenario("version: 1\nname: t\ntags: [a, \"\"]\n", "t.yaml", test_options());
    ADD_FAILURE() << "an empty tag was accepted";
  } catch (const ScenarioError& error) {
    EXPECT_NE(std::string(error.what()).find("t.yaml:3:11: a tag may not be empty"), std::string::npos) << error.what();
  }
  EXPECT_THROW(parse_scenario("version: 1\nname: t\ntags: failover\n", "t.yaml", test_options()), ScenarioError);
}

TEST(LoadScenario, DerivesEveryServiceOnceWhenLoaded) {
  const Scenario s = parse_scenario(
      "version: 1\nname: t\nservices:\n"
      "  db: { kind: postgres, standbys: 2, sync: true }\n"
      "  cache: { kind: redis, sentinels: 3 }\n"
      "  ha: { kind: postgres, ha: patroni, members: 2 }\n"
      "steps:\n"
      "  - { name: standby dies, fault: kill, target: db-standby-2 }\n"
      "  - { name: sentinel dies, fault: kill, target: cache-sentinel-3 }\n"
      "  - { name: member dies, fault: kill, target: ha-2 }\n",
      "scenarios/x.yaml", test_options());
  std::vector<std::string> names;
  for (const auto& service : s.services) names.push_back(service.name);
  EXPECT_EQ(names, (std::vector<std::string>{"db", "db-standby-1", "db-standby-2", "cache", "cache-replica-1",
                                             "cache-sentinel-1", "cache-sentinel-2", "cache-sentinel-3", "ha-etcd",
                                             "ha-1", "ha-2", "ha"}));
  EXPECT_EQ(s.service("cache-sentinel-2")->kind, "sentinel");
  EXPECT_EQ(s.service("ha-etcd")->member_of, "ha");
  EXPECT_EQ(s.steps[0].target, "db-standby-2");
  // The default probes are those of the declared services; a derived one is probed when asked.
  ASSERT_EQ(s.probes.size(), 3u);
  EXPECT_EQ(s.probes[2].service, "ha");
  // Passwords of a primary and its standbys, of the group, of the cluster: each run renews them.
  EXPECT_EQ(s.generated_secrets.size(), 2u + 1u + 4u);
  EXPECT_EQ(s.service("db")->env.at("POSTGRES_PASSWORD"), s.generated_secrets[0]);
  EXPECT_EQ(s.sha256.size(), 64u) << "the digest is the file's";
}

TEST(ScenarioErrors, AStepMayNameOnlyADerivedServiceThatExists) {
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, standbys: 1 }\n"
                     "steps:\n  - { name: k, fault: kill, target: db-standby-2 }\n"),
            diagnostic(6, 37, "unknown service 'db-standby-2' (did you mean 'db-standby-1'?)",
                       "  - { name: k, fault: kill, target: db-standby-2 }"));
}

TEST(ScenarioErrors, AServiceIsCheckedAgainstItsKindsKeys) {
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  s: { kind: sentinel }\n"),
            diagnostic(4, 14, "unknown kind 'sentinel': expected postgres, redis, app, container, pgbouncer or haproxy",
                       "  s: { kind: sentinel }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, health: /ready }\n"),
            diagnostic(4, 25, "'health' applies only to app and container services",
                       "  db: { kind: postgres, health: /ready }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  cache: { kind: redis, persistence: always }\n"),
            diagnostic(4, 38, "unknown persistence 'always': expected none, rdb or aof",
                       "  cache: { kind: redis, persistence: always }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, standbys: 6 }\n"),
            diagnostic(4, 35, "'standbys' must be from 0 to 5, got '6'", "  db: { kind: postgres, standbys: 6 }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, sync: true }\n"),
            diagnostic(4, 25, "'sync' needs standbys: service 'db' has none to replicate to synchronously",
                       "  db: { kind: postgres, sync: true }"));
}

TEST(LoadScenario, HashesTheFileBytes) {
  const Scenario s = parse_scenario("version: 1\nname: t\n", "t.yaml", test_options());
  EXPECT_EQ(s.sha256, "2b93825c17a81465c38016882751a0bcad28ef00b1a622b25b660c9f5bba4f4e");
}

TEST(LoadScenario, ReadsAFileAndNamesItAsGiven) {
  const auto path =
      std::filesystem::temp_directory_path() / ("firedrill-loader-" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream out(path, std::ios::binary);
    out << "version: 1\nname: t\n";
  }
  const Scenario s = load_scenario(path, test_options());
  EXPECT_EQ(s.file, path.string());
  EXPECT_EQ(s.sha256, "2b93825c17a81465c38016882751a0bcad28ef00b1a622b25b660c9f5bba4f4e");
  {
    std::ofstream out(path, std::ios::binary);
    out << "version: 1\nname: t\ndescription: \"" << std::string(max_scenario_bytes, 'x') << "\"\n";
  }
  try {
    load_scenario(path, test_options());
    ADD_FAILURE() << "a file over 1 MiB loaded";
  } catch (const ScenarioError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": the scenario is larger than 1 MiB");
    EXPECT_EQ(e.diagnostics().at(0).where.line, 0);
  }
  std::filesystem::remove(path);
  try {
    load_scenario(path, test_options());
    ADD_FAILURE() << "a missing file loaded";
  } catch (const ScenarioError& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ": cannot read the scenario: No such file or directory");
  }
}

TEST(ScenarioErrors, UnknownFaultShowsTheLineAndACaretUnderTheValue) {
  EXPECT_EQ(error_of(head + "steps:\n  - { name: x, fault: partiton, target: db }\n"),
            "scenarios/x.yaml:7:23: unknown fault 'partiton' (did you mean 'partition'?)\n"
            "      - { name: x, fault: partiton, target: db }\n"
            "                          ^");
}

// Security review 2, H5: what a scenario may make the root harness do on this machine.
TEST(ScenarioErrors, FiredrillsOwnEnvironmentNamesAreRefused) {
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, env: { FIREDRILL_WAL_REPOSITORY: / } }\n"
                     "steps:\n  - { name: w, wait: 1s }\n"),
            diagnostic(4, 32,
                       "env 'FIREDRILL_WAL_REPOSITORY': names starting with FIREDRILL_ are firedrill's own and cannot be set "
                       "in a scenario",
                       "  db: { kind: postgres, env: { FIREDRILL_WAL_REPOSITORY: / } }"));
}

// Security review 2, L5: the image becomes part of an Engine API path.
TEST(ScenarioErrors, AnImageMustBeAnImageReference) {
  const std::string head_of = "version: 1\nname: t\nservices:\n  box: { kind: container, image: ";
  const std::string tail_of = " }\nsteps:\n  - { name: w, wait: 1s }\n";
  EXPECT_EQ(error_of(head_of + "\"busybox/json?force=1\"" + tail_of),
            diagnostic(4, 34,
                       "invalid image 'busybox/json?force=1': expected a reference like firedrill/postgres:15, "
                       "registry.example:5000/team/app:1.2 or name@sha256:<64 hex digits>",
                       "  box: { kind: container, image: \"busybox/json?force=1\" }"));
  for (const char* refused : {"a/../b", "Busybox", "a b", "a#b", "a:", "a%2Fb"})
    EXPECT_NE(error_of(head_of + "\"" + refused + "\"" + tail_of), "no error") << refused;
  for (const char* accepted : {"busybox", "firedrill/postgres:15", "registry.example:5000/team/app:1.2", "localhost/x_y.z-w:v1.0",
                               "app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
    EXPECT_EQ(error_of(head_of + "\"" + accepted + "\"" + tail_of), "no error") << accepted;
}

TEST(ScenarioErrors, ARepositoryOutsideTheRunDirectoryNeedsAGrantedRoot) {
  Vocabulary vocabulary = test_vocabulary();
  vocabulary.actions["backup"] =
      VerbSpec{"backup", "back up", true, {ParamSpec{"repository", ParamType::string, false, ""}}};
  LoadOptions options{vocabulary, {}};
  const std::string outside = head + "steps:\n  - { name: b, action: backup, target: db, repository: /etc/cron.d }\n";
  EXPECT_EQ(error_of(outside, options),
            diagnostic(7, 56,
                       "repository '/etc/cron.d' is outside the run directory: grant its directory with --repository-root "
                       "DIR or use a path relative to the run directory",
                       "  - { name: b, action: backup, target: db, repository: /etc/cron.d }"));
  EXPECT_NE(error_of(head + "steps:\n  - { name: b, action: backup, target: db, repository: ../x }\n", options)
                .find("climbs out of the run directory"),
            std::string::npos);
  EXPECT_EQ(error_of(head + "steps:\n  - { name: b, action: backup, target: db, repository: sets }\n", options), "no error");
  options.repository_roots = {"/etc"};
  EXPECT_EQ(error_of(outside, options), "no error");
}

TEST(ScenarioErrors, ACommandIsRefusedWhereItWouldRunAsRootOnThisMachine) {
  LoadOptions options = test_options();
  const std::string text = "version: 1\nname: t\nservices:\n  db: { kind: postgres, command: \"id >/var/tmp/x\" }\n"
                           "steps:\n  - { name: w, wait: 1s }\n";
  EXPECT_EQ(error_of(text, options), "no error");
  options.commands_would_run_as_root = true;
  EXPECT_EQ(error_of(text, options),
            diagnostic(4, 25,
                       "'command' would run on this machine as root (the process runtime runs a service's command as "
                       "firedrill's own user): run firedrill as an ordinary user, or with --runtime docker",
                       "  db: { kind: postgres, command: \"id >/var/tmp/x\" }"));
}

// Security review 2, M10: verify-backup's scratch container and the network sidecar are removed
// by the name firedrill derives from their service; a service of that name was removed with them.
TEST(ScenarioErrors, NamesFiredrillDerivesBelongToNoOtherService) {
  const std::string services = "version: 1\nname: t\nservices:\n  db: { kind: postgres }\n";
  EXPECT_EQ(error_of(services + "  db-verify: { kind: postgres }\nsteps:\n  - { name: w, wait: 1s }\n"),
            diagnostic(5, 3,
                       "service 'db-verify': names ending in '-verify' are firedrill's own (the scratch container "
                       "verify-backup starts beside 'db')",
                       "  db-verify: { kind: postgres }"));
  EXPECT_EQ(error_of(services + "  app-netadmin: { kind: app }\nsteps:\n  - { name: w, wait: 1s }\n"),
            diagnostic(5, 3,
                       "service 'app-netadmin': names ending in '-netadmin' are firedrill's own (the network sidecar "
                       "started beside 'app')",
                       "  app-netadmin: { kind: app }"));
  // A derived name declared as a service, and one two services would both derive.
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, standbys: 1 }\n"
                     "  db-standby-1: { kind: postgres }\nsteps:\n  - { name: w, wait: 1s }\n"),
            diagnostic(5, 3, "service 'db-standby-1' has the name the engine gives a standby of 'db'",
                       "  db-standby-1: { kind: postgres }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, standbys: 1 }\n"
                     "  db-standby: { kind: postgres, ha: patroni, members: 2 }\nsteps:\n  - { name: w, wait: 1s }\n"),
            diagnostic(5, 3,
                       "service 'db-standby' would get a part named 'db-standby-1' (a member of the Patroni cluster), "
                       "which 'db' already gets",
                       "  db-standby: { kind: postgres, ha: patroni, members: 2 }"));
  EXPECT_EQ(error_of(services + "  db-verifier: { kind: postgres }\n  netadmin: { kind: app }\nsteps:\n  - { name: w, wait: 1s }\n"),
            "no error");
}

TEST(ScenarioErrors, KeepsTheDiagnosticParts) {
  try {
    parse_scenario(head + "stpes: []\n", "scenarios/x.yaml", test_options());
    FAIL() << "no error";
  } catch (const ScenarioError& e) {
    ASSERT_EQ(e.diagnostics().size(), 1u);
    const auto& d = e.diagnostics()[0];
    EXPECT_EQ(d.where.file, "scenarios/x.yaml");
    EXPECT_EQ(d.where.line, 6);
    EXPECT_EQ(d.where.column, 1);
    EXPECT_EQ(d.message, "unknown top-level key 'stpes' (did you mean 'steps'?)");
    EXPECT_EQ(d.source_line, "stpes: []");
  }
}

TEST(ScenarioErrors, UnknownKeysAtEachLevel) {
  EXPECT_EQ(error_of(head + "stpes: []\n"),
            diagnostic(6, 1, "unknown top-level key 'stpes' (did you mean 'steps'?)", "stpes: []"));
  EXPECT_EQ(
      error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, imgae: x }\n"),
      diagnostic(4, 25, "unknown service key 'imgae' (did you mean 'image'?)", "  db: { kind: postgres, imgae: x }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: x, fault: kill, target: db, sginal: KILL }\n"),
            diagnostic(7, 41, "unknown parameter 'sginal' for fault 'kill' (did you mean 'signal'?)",
                       "  - { name: x, fault: kill, target: db, sginal: KILL }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: x, wait: 1s, stable: 1s }\n"),
            diagnostic(7, 26, "'stable' applies only to await steps", "  - { name: x, wait: 1s, stable: 1s }"));
}

TEST(ScenarioErrors, WrongTypes) {
  EXPECT_EQ(error_of("version: 1\nname: t\nservices: [db]\n"),
            diagnostic(3, 11, "'services' must be a map, found a list", "services: [db]"));
  EXPECT_EQ(error_of("- version: 1\n"),
            diagnostic(1, 1, "a scenario must be a map of keys (version, name, services, steps, ...), found a list",
                       "- version: 1"));
  EXPECT_EQ(error_of(head + "workload:\n  - { name: w, through: app, rate: 1/s, concurrency: many }\n"),
            diagnostic(7, 54, "'concurrency' must be an integer, got 'many'",
                       "  - { name: w, through: app, rate: 1/s, concurrency: many }"));
}

TEST(ScenarioErrors, DuplicateKeyPointsAtTheSecond) {
  EXPECT_EQ(error_of("version: 1\nname: a\nname: b\n"),
            diagnostic(3, 1, "duplicate key 'name' (first given at line 2, column 1)", "name: b"));
}

TEST(ScenarioErrors, AnchorsAndAliasesAreRejected) {
  EXPECT_EQ(error_of("version: 1\nname: &n t\n"),
            diagnostic(2, 7, "anchors and aliases are not supported in scenarios", "name: &n t"));
  EXPECT_EQ(error_of("version: 1\nname: *n\n"),
            diagnostic(2, 7, "anchors and aliases are not supported in scenarios", "name: *n"));
}

TEST(ScenarioErrors, SecondIncidentPointsAtIt) {
  EXPECT_EQ(error_of(head + "steps:\n"
                            "  - { name: a, fault: kill, target: db, incident: true }\n"
                            "  - { name: b, fault: pause, target: app, incident: true }\n"),
            diagnostic(8, 43, "step 'b' is a second incident: the incident (T0) is already step 'a' at line 7",
                       "  - { name: b, fault: pause, target: app, incident: true }"));
}

TEST(ScenarioErrors, StepsNeedExactlyOneVerb) {
  EXPECT_EQ(error_of(head + "steps:\n  - { name: idle, target: db }\n"),
            diagnostic(7, 5, "step 'idle' has no verb: give one of wait, fault, action, await or manual",
                       "  - { name: idle, target: db }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: both, fault: kill, action: restart, target: db }\n"),
            diagnostic(7, 32, "step 'both' has two verbs, 'fault' and 'action': give exactly one",
                       "  - { name: both, fault: kill, action: restart, target: db }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: w, wait: 1s, trgt: db }\n"),
            diagnostic(7, 26, "unknown key 'trgt' in a wait step (did you mean 'target'?)",
                       "  - { name: w, wait: 1s, trgt: db }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: w, wiat: 1s }\n"),
            diagnostic(7, 16, "unknown step key 'wiat' (did you mean 'wait'?)", "  - { name: w, wiat: 1s }"));
}

TEST(ScenarioErrors, UnknownServiceReferences) {
  EXPECT_EQ(
      error_of(head + "steps:\n  - { name: k, fault: kill, target: dbb }\n"),
      diagnostic(7, 37, "unknown service 'dbb' (did you mean 'db'?)", "  - { name: k, fault: kill, target: dbb }"));
  EXPECT_EQ(error_of(head + "workload:\n  - { name: w, through: ap, rate: 1/s }\n"),
            diagnostic(7, 25, "unknown service 'ap' (did you mean 'app'?)", "  - { name: w, through: ap, rate: 1/s }"));
  EXPECT_EQ(error_of(head + "  web: { kind: app, env: { DB: \"${dbb.url}\" } }\n"),
            diagnostic(6, 32, "unknown service 'dbb' in '${dbb.url}' (did you mean 'db'?)",
                       "  web: { kind: app, env: { DB: \"${dbb.url}\" } }"));
  EXPECT_EQ(error_of(head + "  web: { kind: app, env: { DB: \"${db.uri}\" } }\n"),
            diagnostic(6, 32, "unknown field 'uri' in '${db.uri}': a postgres service gives url, host, port, postgres_url, conninfo, user, password, database",
                       "  web: { kind: app, env: { DB: \"${db.uri}\" } }"));
  EXPECT_EQ(error_of(head + "probes:\n  - { name: p, redis: { service: db } }\n"),
            diagnostic(7, 34, "redis probe 'p' needs a redis service; 'db' is a postgres service",
                       "  - { name: p, redis: { service: db } }"));
  EXPECT_EQ(error_of(head + "workload:\n  - { name: w, through: db-standby-1, rate: 1/s }\n"),
            diagnostic(7, 25, "unknown service 'db-standby-1'", "  - { name: w, through: db-standby-1, rate: 1/s }"));
}

TEST(ScenarioErrors, MissingVarSuggestsTheFlag) {
  EXPECT_EQ(error_of("version: 1\nname: ${var.NAME}\n"),
            diagnostic(2, 7, "undefined variable 'NAME' (pass --var NAME=...)", "name: ${var.NAME}"));
}

TEST(ScenarioErrors, BadDurationsRatesAndNumbers) {
  EXPECT_EQ(error_of(head + "steps:\n  - { name: w, wait: 5 s }\n"),
            diagnostic(7, 22,
                       "invalid duration '5 s': expected a number and a unit (us, ms, s, m or h), like 250ms, 5s, 2m, "
                       "1h, 1.5s or 1h30m",
                       "  - { name: w, wait: 5 s }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: w, wait: 99999999999999999999s }\n"),
            diagnostic(7, 22, "duration '99999999999999999999s' is out of range (at most 720h)",
                       "  - { name: w, wait: 99999999999999999999s }"));
  EXPECT_EQ(error_of(head + "workload:\n  - { name: w, through: app, rate: 200 }\n"),
            diagnostic(7, 36,
                       "invalid rate '200': expected a number of writes per second, minute or hour, like 200/s, 30/m "
                       "or 3600/h, or 'max' for as fast as possible",
                       "  - { name: w, through: app, rate: 200 }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, port: 99999999999999999999 }\n"),
            diagnostic(4, 31, "'port' must be from 1 to 65535, got '99999999999999999999'",
                       "  db: { kind: postgres, port: 99999999999999999999 }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: c, fault: partition, target: db, loss: 1e400 }\n"),
            diagnostic(7, 52, "parameter 'loss' must be a percentage from 0 to 100 (like 20%), got '1e400'",
                       "  - { name: c, fault: partition, target: db, loss: 1e400 }"));
  EXPECT_EQ(error_of(head + "steps:\n  - { name: k, fault: kill, target: db, restart_after: soon }\n"),
            diagnostic(7, 56,
                       "invalid duration 'soon': expected a number and a unit (us, ms, s, m or h), like 250ms, 5s, "
                       "2m, 1h, 1.5s or 1h30m",
                       "  - { name: k, fault: kill, target: db, restart_after: soon }"));
}

TEST(ScenarioErrors, VersionAndName) {
  EXPECT_EQ(error_of("version: 2\nname: t\n"),
            diagnostic(1, 10, "unsupported version '2': this firedrill reads version 1", "version: 2"));
  EXPECT_EQ(error_of("version: 1\nname: Big_Name\n"),
            diagnostic(2, 7, "invalid scenario name 'Big_Name': use 1 to 63 lowercase letters, digits and '-'",
                       "name: Big_Name"));
}

TEST(LoadScenario, ExpectDefaultsToPassAndTakesFail) {
  EXPECT_EQ(parse_scenario("version: 1\nname: t\n", "scenarios/x.yaml", test_options()).expect, "pass");
  EXPECT_EQ(parse_scenario("version: 1\nname: t\nexpect: fail\n", "scenarios/x.yaml", test_options()).expect, "fail");
  EXPECT_EQ(parse_scenario("version: 1\nname: t\nexpect: pass\n", "scenarios/x.yaml", test_options()).expect, "pass");
}

TEST(ScenarioErrors, ExpectIsPassOrFail) {
  EXPECT_EQ(error_of("version: 1\nname: t\nexpect: failure\n"),
            diagnostic(3, 9, "'expect' must be pass or fail (got 'failure')", "expect: failure"));
  EXPECT_EQ(error_of("version: 1\nname: t\nexpect: [fail]\n"),
            diagnostic(3, 9, "'expect' must be a single value, found a list", "expect: [fail]"));
}

TEST(ScenarioErrors, TargetsChecksAndRequiredParams) {
  EXPECT_EQ(
      error_of(head + "steps:\n  - { name: k, fault: kill }\n"),
      diagnostic(7, 23, "fault 'kill' needs a 'target' (the service it acts on)", "  - { name: k, fault: kill }"));
  EXPECT_EQ(error_of(head + "checks:\n  - { integrity: db, expect: \">= acked\" }\n"),
            diagnostic(7, 7, "check 'integrity' needs parameter 'sql'", "  - { integrity: db, expect: \">= acked\" }"));
  EXPECT_EQ(error_of(head + "targets:\n  overall: { rpo: 0s }\nchecks:\n  - { rto: overall }\n"),
            diagnostic(9, 12, "check 'rto: overall' needs an rto objective for 'overall' under targets",
                       "  - { rto: overall }"));
  EXPECT_EQ(error_of(head + "checks:\n  - { rot: overall }\n"),
            diagnostic(7, 7, "unknown check 'rot' (did you mean 'rto'?)", "  - { rot: overall }"));
  EXPECT_EQ(error_of(head + "targets:\n  dbb: { rto: 1s }\n"),
            diagnostic(7, 3, "unknown component 'dbb': expected 'overall' or a service (did you mean 'db'?)",
                       "  dbb: { rto: 1s }"));
}

TEST(ScenarioErrors, HostileBytes) {
  EXPECT_EQ(error_of(""),
            "scenarios/x.yaml:1:1: the scenario is empty: expected a map with version, name, services "
            "and steps\n    \n    ^");
  EXPECT_EQ(error_of("version: 1\nname: t\x01\xff\n"),
            diagnostic(2, 9, "invalid UTF-8 (byte 0xff); a scenario must be UTF-8 text", "name: t??"));
  EXPECT_EQ(error_of(std::string("version: 1\nna\0me: t\n", 20)),
            diagnostic(2, 3, "NUL byte in the scenario (is this a binary file?)", "na?me: t"));
  EXPECT_EQ(error_of("version: 1\nservices:\n  db:\n\tkind: postgres\n"),
            diagnostic(4, 1, "tab used for indentation; indent with spaces", " kind: postgres"));
  EXPECT_EQ(error_of("version: 1\nname: t\n---\nversion: 1\n"),
            diagnostic(3, 1, "a scenario file holds one YAML document; found a second one", "---"));
  EXPECT_EQ(error_of("version: 1\nname: !!str t\n"),
            diagnostic(2, 7, "YAML tags are not supported in scenarios", "name: !!str t"));
}

TEST(ScenarioErrors, CaretCountsCharactersNotBytes) {
  EXPECT_EQ(error_of("version: 1\nname: t\ndescription: \"é\"\nstpes: []\n"),
            diagnostic(4, 1, "unknown top-level key 'stpes' (did you mean 'steps'?)", "stpes: []"));
  EXPECT_EQ(
      error_of("version: 1\nname: \"é\"\n"),
      diagnostic(2, 7, "invalid scenario name 'é': use 1 to 63 lowercase letters, digits and '-'", "name: \"é\""));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices: { é: { kind: redis }, x: 1 }\n"),
            "scenarios/x.yaml:3:13: invalid service name 'é': use a lowercase letter, then lowercase letters, digits "
            "and '-' (at most 63)\n"
            "    services: { é: { kind: redis }, x: 1 }\n"
            "                ^");
}

TEST(ScenarioErrors, LimitsNestingAndNodeCount) {
  std::string deep = "version: 1\nname: t\ndescription: " + std::string(100, '[') + std::string(100, ']') + "\n";
  EXPECT_EQ(error_of(deep),
            diagnostic(3, 77, "nesting deeper than 64 levels",
                       ("description: " + std::string(100, '[') + std::string(100, ']')).substr(0, 154) + "..."));
  std::string wide = "version: 1\nname: t\ndescription: [";
  for (int i = 0; i < 100'001; ++i) wide += "1,";
  wide += "]\n";
  const std::string error = error_of(wide);
  EXPECT_EQ(error.substr(0, error.find('\n')),
            "scenarios/x.yaml:3:200001: the scenario has more than 100000 YAML nodes");
}

TEST(ScenarioErrors, LongLinesAreShownAsAWindowAroundTheColumn) {
  const std::string text = "version: 1\nname: t\ndescription: [" + std::string(300, 'a') + ", *x]\n";
  const std::string error = error_of(text);
  EXPECT_EQ(error,
            "scenarios/x.yaml:3:317: anchors and aliases are not supported in scenarios\n"
            "    ..." +
                std::string(149, 'a') +
                ", *x]\n"
                "    " +
                std::string(154, ' ') + "^");
}

}  // namespace
}  // namespace firedrill

namespace firedrill {
namespace {

TEST(ScenarioErrors, AFaultsOwnCombinationRuleIsCheckedAtTheVerb) {
  LoadOptions options = test_options();
  auto& split = options.vocabulary.faults["split"];
  split = VerbSpec{"split", "", false, {{"a", ParamType::service, false, ""}, {"b", ParamType::service, false, ""}}};
  split.check_combination = [](const StepSpec& step) {
    if (step.params.count("a") == step.params.count("b")) throw std::invalid_argument("split needs exactly one of a, b");
  };
  EXPECT_EQ(error_of(head + "steps:\n  - { name: x, fault: split, a: db, b: app }\n", options),
            "scenarios/x.yaml:7:23: split needs exactly one of a, b\n"
            "      - { name: x, fault: split, a: db, b: app }\n"
            "                          ^");
  EXPECT_EQ(error_of(head + "steps:\n  - { name: x, fault: split, a: db }\n", options), "no error");
}

}  // namespace
}  // namespace firedrill

namespace firedrill {
namespace {

TEST(LoadScenario, ReadsADiskSizeForPostgresAndRedis) {
  const Scenario s = parse_scenario(
      "version: 1\nname: t\nservices:\n  db: { kind: postgres, disk: 64MiB }\n  cache: { kind: redis, disk: 1GB }\n"
      "  other: { kind: postgres }\n",
      "scenarios/x.yaml", test_options());
  EXPECT_EQ(s.service("db")->disk, std::uint64_t{64} << 20);
  EXPECT_EQ(s.service("cache")->disk, std::uint64_t{1000000000});
  EXPECT_FALSE(s.service("other")->disk);
}

TEST(ScenarioErrors, ADiskSizeMustBeASizeInRangeOnADataService) {
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, disk: 64 MB }\n"),
            diagnostic(4, 31, "invalid disk size '64 MB': expected a size like 64MiB, 512KiB, 1GB or a number of bytes",
                       "  db: { kind: postgres, disk: 64 MB }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  db: { kind: postgres, disk: 1MiB }\n"),
            diagnostic(4, 31, "disk size '1MiB' is out of range: between 16MiB and 64GiB",
                       "  db: { kind: postgres, disk: 1MiB }"));
  EXPECT_EQ(error_of("version: 1\nname: t\nservices:\n  app: { kind: app, disk: 64MiB }\n"),
            diagnostic(4, 21, "'disk' applies only to postgres and redis services", "  app: { kind: app, disk: 64MiB }"));
}

TEST(LoadScenario, AStepTheChosenRuntimeCannotServeIsRefusedAtItsLineNamingTheRuntime) {
  LoadOptions options = test_options();
  options.vocabulary.faults["pause"].needs = always_needs({Capability::process_control});
  options.vocabulary.faults["partition"].needs = [](const StepSpec& step) {
    return step.params.count("from") ? std::vector<Capability>{Capability::network_namespaces}
                                     : std::vector<Capability>{};
  };
  const std::string with_steps = head + "steps:\n";
  const std::string cut = with_steps + "  - { name: cut, fault: partition, target: db, from: [app] }\n";
  const std::string frozen = with_steps + "  - { name: freeze, fault: pause, target: db }\n";
  // Without a runtime named, only the format and the registries are checked.
  EXPECT_EQ(error_of(cut, options), "no error");
  options.runtime = LoadOptions::RuntimeCapabilities{"process", {Capability::process_control}};
  const std::string refused = error_of(cut, options);
  EXPECT_NE(refused.find("scenarios/x.yaml:7:"), std::string::npos) << refused;
  EXPECT_NE(refused.find("fault 'partition' needs a runtime that can enter the network namespaces of its services; "
                         "the process runtime cannot"),
            std::string::npos)
      << refused;
  EXPECT_EQ(error_of(frozen, options), "no error");
  // What a step needs may depend on its parameters: the same fault without them is served.
  EXPECT_EQ(error_of(with_steps + "  - { name: cut, fault: partition, target: db }\n", options), "no error");
  options.runtime->capabilities.clear();
  EXPECT_NE(error_of(frozen, options).find("needs a runtime that can signal, pause or restart its services"),
            std::string::npos);
}


// A writer's declared contracts: how it writes and how its writes are found again.
const std::string api_writer =
    "workload:\n"
    "  - name: orders\n"
    "    through: app\n"
    "    rate: 50/s\n"
    "    http:\n"
    "      method: POST\n"
    "      path: /orders\n"
    "      headers: { X-Api-Key: \"${env.DRILLTEST_SHOP_KEY}\" }\n"
    "      body: { ref: \"${write.id}\", seq: \"${write.seq}\", at: \"${write.time}\", note: \"a \\\"quoted\\\" one\" }\n"
    "      expect: [201]\n"
    "      id_from: /id\n"
    "    read_back:\n"
    "      sql: { service: db, query: \"SELECT id FROM orders WHERE id = ANY($1)\" }\n"
    "      timeout: 30s\n";

TEST(WorkloadContracts, AnHttpWriterWithAnApiKeyAndServerIdsReadBackBySql) {
  ::setenv("DRILLTEST_SHOP_KEY", "k3y-of-the-shop", 1);
  const Scenario s = parse_scenario(head + api_writer, "scenarios/x.yaml", test_options());
  ASSERT_EQ(s.workload.size(), 1u);
  const WorkloadSpec& w = s.workload[0];
  ASSERT_TRUE(w.request);
  EXPECT_EQ(w.request->kind, "http");
  EXPECT_EQ(w.request->path, "/orders");
  ASSERT_EQ(w.request->headers.size(), 2u);
  EXPECT_EQ(w.request->headers[0].name, "X-Api-Key");
  EXPECT_EQ(w.request->headers[0].value, "k3y-of-the-shop");
  EXPECT_EQ(w.request->headers[1].name, "Content-Type");
  EXPECT_TRUE(w.request->body_is_json);
  // The body is JSON whose strings are templates; a string of only ${write.seq} is the number.
  EXPECT_EQ(w.request->body,
            R"({"at":"${write.time}","note":"a \"quoted\" one","ref":"${write.id}","seq":${write.seq}})");
  EXPECT_EQ(w.request->expect, std::vector<int>{201});
  EXPECT_EQ(w.request->id_from, "/id");
  ASSERT_TRUE(w.read_back);
  EXPECT_EQ(w.read_back->kind, "sql");
  EXPECT_EQ(w.read_back->service, "db");
  EXPECT_EQ(w.read_back->timeout, std::chrono::microseconds(seconds(30)));
  // The key came from the environment: a secret of the run.
  EXPECT_NE(std::find(s.loaded_secrets.begin(), s.loaded_secrets.end(), "k3y-of-the-shop"), s.loaded_secrets.end());
}

TEST(WorkloadContracts, SqlAndRedisWritersAndTheirReadBacks) {
  const Scenario s = parse_scenario(
      "version: 1\nname: t\nservices:\n  db: { kind: postgres }\n  cache: { kind: redis }\n"
      "workload:\n"
      "  - name: rows\n    through: db\n    rate: 10/s\n"
      "    sql:\n      setup: CREATE TABLE IF NOT EXISTS t (ext text, at timestamptz)\n"
      "      statements: [\"INSERT INTO t VALUES ($1, $2)\", \"UPDATE n SET c = c + 1\"]\n"
      "    read_back: { sql: { query: SELECT ext FROM t } }\n"
      "  - name: events\n    through: cache\n    rate: 10/s\n"
      "    redis: { command: \"XADD events * id ${write.id}\" }\n"
      "    read_back: { redis: { command: \"SISMEMBER seen ${write.id}\" }, concurrency: 2 }\n",
      "scenarios/x.yaml", test_options());
  ASSERT_EQ(s.workload.size(), 2u);
  EXPECT_EQ(s.workload[0].request->statements.size(), 2u);
  EXPECT_EQ(s.workload[0].request->setup.size(), 1u);
  EXPECT_EQ(s.workload[0].read_back->query, "SELECT ext FROM t");
  EXPECT_EQ(s.workload[1].request->command, (std::vector<std::string>{"XADD", "events", "*", "id", "${write.id}"}));
  EXPECT_EQ(s.workload[1].read_back->command, (std::vector<std::string>{"SISMEMBER", "seen", "${write.id}"}));
  EXPECT_EQ(s.workload[1].read_back->concurrency, 2);
}

TEST(WorkloadContracts, BadContractsStopTheLoadAtTheirLine) {
  ::setenv("DRILLTEST_SHOP_KEY", "k", 1);
  auto replaced = [](std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  // A JSON pointer that does not parse.
  EXPECT_EQ(error_of(head + replaced(api_writer, "id_from: /id", "id_from: id")),
            diagnostic(16, 16, "'id' is not a JSON pointer (id_from): like /id or /issue/id", "      id_from: id"));
  // A template naming an unknown variable.
  EXPECT_EQ(error_of(head + replaced(api_writer, "path: /orders", "path: /orders/${write.uid}")),
            diagnostic(12, 13,
                       "path: unknown variable '${write.uid}': a write's templates name ${write.id}, ${write.seq}, "
                       "${write.time}, ${env.NAME} or ${var.NAME}",
                       "      path: /orders/${write.uid}"));
  // An environment variable that is not set.
  EXPECT_NE(error_of(head + replaced(api_writer, "DRILLTEST_SHOP_KEY", "DRILLTEST_UNSET_KEY"))
                .find("names ${env.DRILLTEST_UNSET_KEY}, which is not set in firedrill's environment"),
            std::string::npos);
  // firedrill's own settings never reach a service.
  ::setenv("FIREDRILL_SIGNING_KEY", "not-for-services", 1);
  EXPECT_NE(error_of(head + replaced(api_writer, "DRILLTEST_SHOP_KEY", "FIREDRILL_SIGNING_KEY"))
                .find("names starting with FIREDRILL_ are firedrill's own"),
            std::string::npos);
  ::unsetenv("FIREDRILL_SIGNING_KEY");
  // A read-back query binding more than the ids.
  EXPECT_EQ(error_of(head + replaced(api_writer, "ANY($1)", "ANY($1) AND t > $2")),
            diagnostic(18, 34, "a read-back query binds only $1 (the ids asked, a text[]): it names more",
                       "      sql: { service: db, query: \"SELECT id FROM orders WHERE id = ANY($1) AND t > $2\" }"));
  // Writes that could never be found again.
  const std::string anonymous = "workload:\n  - name: w\n    through: app\n    rate: 1/s\n"
                                "    http: { path: /orders, body: { a: 1 } }\n"
                                "    read_back: { sql: { service: db, query: SELECT 1 } }\n";
  EXPECT_NE(error_of(head + anonymous).find("could never be found again"), std::string::npos) << error_of(head + anonymous);
  // A declared write without a read-back.
  const std::string unread = "workload:\n  - name: w\n    through: app\n    rate: 1/s\n"
                             "    http: { path: \"/orders/${write.id}\", method: PUT }\n";
  EXPECT_NE(error_of(head + unread).find("not how its writes are found again"), std::string::npos);
  // A sql statement that never binds the id; a per-id read-back path with ids_at.
  const std::string unbound = "workload:\n  - name: w\n    through: db\n    rate: 1/s\n"
                              "    sql: { statement: \"INSERT INTO t VALUES (now())\" }\n"
                              "    read_back: { sql: { query: SELECT x FROM t } }\n";
  EXPECT_NE(error_of(head + unbound).find("never bind $1"), std::string::npos);
  const std::string both = "workload:\n  - name: w\n    through: app\n    rate: 1/s\n"
                           "    read_back: { http: { path: \"/o/${write.id}\", ids_at: /ids } }\n";
  EXPECT_NE(error_of(head + both).find("takes no ids_at"), std::string::npos);
  // A writer over HTTP through a database; two ways of writing at once.
  const std::string http_to_db = "workload:\n  - name: w\n    through: db\n    rate: 1/s\n"
                                 "    http: { path: \"/o/${write.id}\" }\n    read_back: { sql: { query: SELECT 1 } }\n";
  EXPECT_NE(error_of(head + http_to_db).find("writes over HTTP through 'db', a postgres service"), std::string::npos);
  // A password never reaches a command line; a timeout of nothing is none at all; an environment
  // value is a literal, never a template of its own.
  EXPECT_NE(error_of(head + "  web: { kind: app, command: \"app --db=${db.conninfo}\" }\n")
                .find("'command' names a password (a 'conninfo' reference)"),
            std::string::npos);
  EXPECT_NE(error_of(head + "workload:\n  - { name: w, through: app, rate: 1/s, timeout: 0s }\n").find("at least 10ms"),
            std::string::npos);
  ::setenv("DRILLTEST_SHOP_KEY", "a${write.id}", 1);
  const std::string templated = error_of(head + api_writer);
  EXPECT_NE(templated.find("${env.DRILLTEST_SHOP_KEY} holds '${'"), std::string::npos) << templated;
  ::setenv("DRILLTEST_SHOP_KEY", "k", 1);
  // A writer name that cannot be part of an id.
  EXPECT_NE(error_of(head + "workload:\n  - { name: \"o'rders\", through: app, rate: 1/s }\n").find("invalid workload name"),
            std::string::npos);
}

TEST(ServiceReadiness, AnAppSaysWhatReadyMeansAndHowLongItMayTake) {
  const Scenario s = parse_scenario(
      "version: 1\nname: t\nservices:\n  db: { kind: postgres, start_timeout: 3m }\n"
      "  shop:\n    kind: container\n    image: shop/api:1.4\n    port: 3000\n    health: /healthz\n"
      "    health_status: 204\n    ready_command: \"test -f /srv/shop/booted\"\n    start_timeout: 120s\n"
      "    env: { DATABASE_URL: \"${db.conninfo}\", PGUSER: \"${db.user}\", PGPASSWORD: \"${db.password}\" }\n",
      "scenarios/x.yaml", test_options());
  const ServiceSpec* shop = s.service("shop");
  ASSERT_NE(shop, nullptr);
  EXPECT_EQ(shop->health, "/healthz");
  EXPECT_EQ(shop->health_status, 204);
  EXPECT_EQ(shop->ready_command, "test -f /srv/shop/booted");
  EXPECT_EQ(shop->start_timeout, std::chrono::microseconds(seconds(120)));
  EXPECT_EQ(s.service("db")->start_timeout, std::chrono::microseconds(minutes(3)));
  // The shop's default probe asks its health path for the status it answers when ready.
  bool probed = false;
  for (const auto& probe : s.probes)
    if (probe.service == "shop") {
      probed = true;
      EXPECT_EQ(probe.path, "/healthz");
      EXPECT_EQ(probe.expect_status, 204);
    }
  EXPECT_TRUE(probed);

  EXPECT_EQ(error_of(head + "  web: { kind: app, start_timeout: 2h }\n"),
            diagnostic(6, 36, "'start_timeout' is out of range: between 1s and 1800s",
                       "  web: { kind: app, start_timeout: 2h }"));
  EXPECT_EQ(error_of(head + "  web: { kind: app, health_status: 700 }\n"),
            diagnostic(6, 36, "'health_status' must be from 100 to 599, got '700'",
                       "  web: { kind: app, health_status: 700 }"));
  EXPECT_NE(error_of(head + "  cache: { kind: redis, env: { X: \"${cache.user}\" } }\n")
                .find("unknown field 'user' in '${cache.user}': a redis service gives url, host, port, password"),
            std::string::npos);
  LoadOptions as_root = test_options();
  as_root.commands_would_run_as_root = true;
  EXPECT_NE(error_of(head + "  web: { kind: app, ready_command: \"true\" }\n", as_root)
                .find("'ready_command' would run on this machine as root"),
            std::string::npos);
}

}  // namespace
}  // namespace firedrill
