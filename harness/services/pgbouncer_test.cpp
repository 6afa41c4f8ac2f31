#include "harness/services/pgbouncer.hpp"

#include <algorithm>

#include <gtest/gtest.h>

#include "harness/scenario/loader.hpp"
#include "harness/services/backend_login.hpp"
#include "harness/services/registry.hpp"

namespace firedrill {
namespace {

const std::string head = "version: 1\nname: t\nservices:\n";

Scenario load(const std::string& services, const LoadOptions& options = LoadOptions{Vocabulary{}, {}}) {
  return parse_scenario(head + services, "x.yaml", options);
}

std::string load_error(const std::string& services, const LoadOptions& options = LoadOptions{Vocabulary{}, {}}) {
  try {
    load(services, options);
  } catch (const std::exception& error) {
    return error.what();
  }
  return "no error";
}

/// The value of `key` in a container's KEY=VALUE environment ("" when absent).
std::string env_of(const ContainerSpec& container, const std::string& key) {
  for (const auto& entry : container.env)
    if (entry.starts_with(key + "=")) return entry.substr(key.size() + 1);
  return "";
}

/// Resolves references as the Docker runtime's containers see them: ${svc.host} is the service's
/// name, ${svc.port} its container port.
std::string as_in_containers(const std::string& text) {
  std::string resolved = text;
  for (const auto& [reference, value] : std::vector<std::pair<std::string, std::string>>{
           {"${db.host}", "db"}, {"${db.port}", "5432"}, {"${pool.url}", "postgresql://pool"}})
    for (auto at = resolved.find(reference); at != std::string::npos; at = resolved.find(reference))
      resolved.replace(at, reference.size(), value);
  return resolved;
}

TEST(PgBouncerScenario, ThePoolTakesItsBackendsLoginAndBothShareTheGeneratedPassword) {
  const Scenario scenario = load(
      "  db: { kind: postgres, env: { POSTGRES_USER: shop, POSTGRES_DB: orders } }\n"
      "  pool: { kind: pgbouncer, backend: db }\n"
      "  app: { kind: app, env: { DATABASE_URL: \"${pool.url}\" } }\n");
  const ServiceSpec& db = *scenario.service("db");
  const ServiceSpec& pool = *scenario.service("pool");
  ASSERT_EQ(scenario.generated_secrets.size(), 1u) << "the backend's password, generated at load for both ends";
  EXPECT_EQ(db.env.at("POSTGRES_PASSWORD"), scenario.generated_secrets[0]);
  const BackendLogin login = backend_login(pool);
  EXPECT_EQ(login.user, "shop");
  EXPECT_EQ(login.database, "orders");
  EXPECT_EQ(login.password, scenario.generated_secrets[0]);
  EXPECT_EQ(pool.pool_mode, "transaction") << "the default";
  EXPECT_EQ(pool.login_retry, "15s") << "PgBouncer's own default";
  EXPECT_EQ(pool.env.at("FIREDRILL_BACKEND_ADDRESS"), "${db.host}:${db.port}") << "starts after its backend";

  // Each run gets a password of its own, the same at both ends.
  const Scenario run = with_fresh_secrets(scenario);
  EXPECT_NE(run.service("db")->env.at("POSTGRES_PASSWORD"), db.env.at("POSTGRES_PASSWORD"));
  EXPECT_EQ(backend_login(*run.service("pool")).password, run.service("db")->env.at("POSTGRES_PASSWORD"));

  // The default probe of the pool is a query through it.
  const auto probe = std::find_if(scenario.probes.begin(), scenario.probes.end(),
                                  [](const ProbeSpec& candidate) { return candidate.service == "pool"; });
  ASSERT_NE(probe, scenario.probes.end());
  EXPECT_EQ(probe->type, "sql");
}

TEST(PgBouncerScenario, AGivenPasswordIsKeptAndNotCountedAsGenerated) {
  const Scenario scenario = load(
      "  db: { kind: postgres, env: { POSTGRES_PASSWORD: chosen } }\n"
      "  pool: { kind: pgbouncer, backend: db, pool_mode: session, pool_size: 5, max_client_conn: 50, login_retry: 500ms }\n");
  EXPECT_TRUE(scenario.generated_secrets.empty());
  const ServiceSpec& pool = *scenario.service("pool");
  EXPECT_EQ(backend_login(pool).password, "chosen");
  EXPECT_EQ(backend_login(pool).user, "postgres");
  EXPECT_EQ(backend_login(pool).database, "postgres");
  const std::string configuration = pgbouncer_configuration(pool);
  EXPECT_NE(configuration.find("pool_mode = session\n"), std::string::npos) << configuration;
  EXPECT_NE(configuration.find("default_pool_size = 5\n"), std::string::npos) << configuration;
  EXPECT_NE(configuration.find("max_client_conn = 50\n"), std::string::npos) << configuration;
  EXPECT_NE(configuration.find("server_login_retry = 0.5\n"), std::string::npos) << configuration;
}

TEST(PgBouncerScenario, MisusesAreNamedWhereTheyAre) {
  EXPECT_NE(load_error("  pool: { kind: pgbouncer }\n").find("x.yaml:4:3: service 'pool' of kind pgbouncer needs a 'backend'"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: dbb }\n")
                .find("x.yaml:5:37: 'backend' of 'pool' names no declared service: 'dbb' (postgres services: db)"),
            std::string::npos);
  EXPECT_NE(load_error("  cache: { kind: redis }\n  pool: { kind: pgbouncer, backend: cache }\n")
                .find("'backend' of 'pool' must be a postgres service; 'cache' is a redis service"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, standbys: 1 }\n  pool: { kind: pgbouncer, backend: db-standby-1 }\n")
                .find("names no declared service: 'db-standby-1'"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, ha: patroni }\n  pool: { kind: pgbouncer, backend: db }\n")
                .find("PgBouncer reaches a single server, and 'db' is a Patroni cluster"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: db, pool_mode: pooled }\n")
                .find("unknown pool_mode 'pooled': expected transaction, session or statement"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: db, login_retry: 1h }\n")
                .find("'login_retry' must be from 100ms to 10m, got '1h'"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, env: { POSTGRES_USER: \"shop owner\" } }\n"
                       "  pool: { kind: pgbouncer, backend: db }\n")
                .find("admin_users is a list of plain names"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres, backend: x }\n").find("'backend' applies only to pgbouncer and haproxy services"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: db }\n"
                       "probes:\n  - { name: p, redis: { service: pool } }\n")
                .find("redis probe 'p' needs a redis service; 'pool' is a pgbouncer service"),
            std::string::npos);
}

TEST(PgBouncerScenario, TheProcessRuntimeIsRefusedAtTheKindNamingTheRuntime) {
  LoadOptions options{Vocabulary{}, {}};
  options.runtime = LoadOptions::RuntimeCapabilities{"process", {}};
  EXPECT_NE(load_error("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: db }\n", options)
                .find("x.yaml:5:17: service 'pool' of kind pgbouncer needs the docker runtime (PgBouncer runs in a "
                      "container only); the process runtime cannot run it"),
            std::string::npos);
  options.runtime = LoadOptions::RuntimeCapabilities{"docker", {}};
  EXPECT_EQ(load_error("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: db }\n", options), "no error");
}

TEST(PgBouncerService, TheConfigurationPoolsEveryDatabaseOfTheBackendAndHoldsNoSecret) {
  const Scenario scenario = load("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: db }\n");
  const ServiceSpec& pool = *scenario.service("pool");
  const std::string configuration = pgbouncer_configuration(pool);
  EXPECT_EQ(configuration, R"INI([databases]
* = host=${db.host} port=${db.port}

[pgbouncer]
listen_addr = *
listen_port = 6432
unix_socket_dir = /tmp
auth_type = scram-sha-256
auth_file = /etc/firedrill/pgbouncer/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 20
max_client_conn = 100
server_login_retry = 15
ignore_startup_parameters = extra_float_digits
)INI");
  EXPECT_EQ(configuration.find(backend_login(pool).password), std::string::npos);
}

TEST(PgBouncerService, TheContainerWritesItsAuthFileFromTheEnvironmentNeverFromAnArgument) {
  const Scenario scenario = load("  db: { kind: postgres }\n  pool: { kind: pgbouncer, backend: db }\n");
  const auto service = make_service(*scenario.service("pool"));
  const std::string password = backend_login(service->spec()).password;
  const ContainerSpec container = service->container_spec(as_in_containers);
  EXPECT_EQ(container.image, "firedrill/base:bookworm");
  EXPECT_EQ(container.ports, std::vector<int>{6432});
  ASSERT_EQ(container.command.size(), 3u);
  EXPECT_EQ(container.command[0], "/bin/bash");
  for (const auto& argument : container.command) EXPECT_EQ(argument.find(password), std::string::npos) << argument;
  const std::string& script = container.command[2];
  EXPECT_NE(script.find("umask 077"), std::string::npos);
  EXPECT_NE(script.find("unset FIREDRILL_BACKEND_PASSWORD"), std::string::npos);
  EXPECT_NE(script.find("setpriv --reuid postgres"), std::string::npos) << "PgBouncer refuses to run as root";
  EXPECT_EQ(env_of(container, "FIREDRILL_BACKEND_PASSWORD"), password);
  EXPECT_NE(env_of(container, "FIREDRILL_PGBOUNCER_CONFIG").find("* = host=db port=5432\n"), std::string::npos)
      << "the backend as the pool's container reaches it";
  EXPECT_EQ(service->secrets(), std::vector<std::string>{password});
}

TEST(PgBouncerService, ClientsAndTheHarnessReachTheBackendThroughThePool) {
  const Scenario scenario =
      load("  db: { kind: postgres, env: { POSTGRES_PASSWORD: \"p@ss word\", POSTGRES_DB: shop } }\n"
           "  pool: { kind: pgbouncer, backend: db, pool_size: 7 }\n");
  const auto service = make_service(*scenario.service("pool"));
  EXPECT_EQ(service->url_in_network(), "postgresql://postgres:p%40ss%20word@pool:6432/shop");
  ContainerInfo info;
  info.host_ports = {{6432, 41000}};
  EXPECT_EQ(service->harness_conninfo(info),
            "host=127.0.0.1 port=41000 user=postgres password='p@ss word' dbname=shop connect_timeout=2");
  const ProbeConfig probe = service->readiness_probe(info);
  EXPECT_EQ(probe.type, "sql");
  EXPECT_EQ(probe.conninfo, service->harness_conninfo(info));
  ASSERT_TRUE(service->implied_write("orders"));
  EXPECT_EQ(service->implied_write("orders")->kind, "sql");
  nlohmann::json entry;
  service->add_details(entry);
  EXPECT_EQ(entry["pgbouncer"], (nlohmann::json{{"backend", "db"},
                                                {"pool_mode", "transaction"},
                                                {"pool_size", 7},
                                                {"max_client_conn", 100},
                                                {"server_login_retry_seconds", 15.0}}));
}

TEST(PgBouncerService, LoginRetryIsWrittenInSecondsAsPgBouncerReadsIt) {
  EXPECT_EQ(pgbouncer_seconds("15s"), "15");
  EXPECT_EQ(pgbouncer_seconds("500ms"), "0.5");
  EXPECT_EQ(pgbouncer_seconds("1m30s"), "90");
  EXPECT_EQ(pgbouncer_seconds("1.25s"), "1.25");
}

}  // namespace
}  // namespace firedrill
