// The middle tiers end to end: the PgBouncer and HAProxy drills of the scenario library through
// the real command line, engine, images, PgBouncer, HAProxy, Patroni, Postgres and app. What the
// report says is checked against the systems themselves, in the environment the drill leaves up
// (--keep): the lost writes are recounted from the surviving primary against acks.jsonl, and the
// traffic is shown to have gone through the tier — PgBouncer's own statistics on its admin
// console, HAProxy's on its statistics page and in its log, and Postgres' pg_stat_activity, where
// the app's connections arrive from the tier's address, never from the app's.
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <libpq-fe.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "checks/history.hpp"
#include "harness/runtime/cleanup.hpp"
#include "harness/services/haproxy.hpp"
#include "tests/integration/command.hpp"

namespace firedrill {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::CommandOutcome;
using testing::read_file;
using testing::run_command;

const fs::path source_dir = FIREDRILL_SOURCE_DIR;
constexpr const char* database_password = "tiers-test-password";

class TierDrill : public testing::EngineTest {
 protected:
  void TearDown() override {
    if (!run_id_.empty() && kept_) {
      const auto down = firedrill({"down", run_id_});
      EXPECT_EQ(down.exit_code, 0) << down.output;
      const auto left = count_labelled(run_id_);
      EXPECT_EQ(left.containers, 0) << "containers of run " << run_id_ << " were left behind";
      EXPECT_EQ(left.networks, 0);
      EXPECT_EQ(left.volumes, 0);
    }
    testing::EngineTest::TearDown();
  }

  /// The library scenario with `declared` given a known database password and each of `changes`
  /// (a text, what replaces it) made, run with --keep.
  std::pair<CommandOutcome, nlohmann::json> drill_kept(const std::string& file, const std::string& declared,
                                                       const std::vector<std::pair<std::string, std::string>>& changes = {}) {
    std::string text = read_file(source_dir / "scenarios" / file);
    for (const auto& [from, to] : changes) {
      const auto found = text.find(from);
      EXPECT_NE(found, std::string::npos) << from;
      if (found != std::string::npos) text.replace(found, from.size(), to);
    }
    const auto at = text.find(declared);
    EXPECT_NE(at, std::string::npos) << declared;
    if (at != std::string::npos) {
      std::string with_password = declared;
      with_password.insert(with_password.rfind(" }"), std::string(", env: { POSTGRES_PASSWORD: ") + database_password + " }");
      text.replace(at, declared.size(), with_password);
    }
    const fs::path scenario = out_ / file;
    std::ofstream(scenario) << text;
    kept_ = true;
    return drill(scenario, {"--keep"});
  }

  std::string container(const std::string& service) const { return "fd-" + run_id_ + "-" + service; }

  /// The container's address on the run's network.
  std::string address_of(const std::string& service) const {
    const auto inspected = run_command(
        {"docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container(service)}, 20s);
    std::string address = inspected.output;
    while (!address.empty() && (address.back() == '\n' || address.back() == ' ')) address.pop_back();
    return address;
  }

  /// The 127.0.0.1 port the container's `port` is published on (0: none).
  int published(const std::string& service, int port) const {
    const auto answer = run_command({"docker", "port", container(service), std::to_string(port) + "/tcp"}, 20s);
    const std::string line = answer.output.substr(0, answer.output.find('\n'));
    const auto colon = line.rfind(':');
    if (colon == std::string::npos) return 0;
    try {
      return std::stoi(line.substr(colon + 1));
    } catch (const std::exception&) {
      return 0;
    }
  }

  bool kept_ = false;
};

std::string conninfo(int port, const std::string& database = "postgres") {
  return "host=127.0.0.1 port=" + std::to_string(port) + " user=postgres dbname=" + database +
         " connect_timeout=5 password=" + database_password;
}

/// The rows PgBouncer's admin console (database `pgbouncer` at `port`) answers `command` with,
/// each by column name. Through libpq itself: libpqxx refuses a server that gives no PostgreSQL
/// version, as the console does.
std::vector<std::map<std::string, std::string>> admin_console(int port, const std::string& command) {
  std::vector<std::map<std::string, std::string>> rows;
  std::unique_ptr<PGconn, decltype(&PQfinish)> console(PQconnectdb(conninfo(port, "pgbouncer").c_str()), PQfinish);
  EXPECT_EQ(PQstatus(console.get()), CONNECTION_OK) << PQerrorMessage(console.get());
  if (PQstatus(console.get()) != CONNECTION_OK) return rows;
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(console.get(), command.c_str()), PQclear);
  EXPECT_EQ(PQresultStatus(result.get()), PGRES_TUPLES_OK) << command << ": " << PQerrorMessage(console.get());
  for (int row = 0; row < PQntuples(result.get()); ++row) {
    auto& named = rows.emplace_back();
    for (int column = 0; column < PQnfields(result.get()); ++column)
      named[PQfname(result.get(), column)] = PQgetvalue(result.get(), row, column);
  }
  return rows;
}

/// The addresses the client backends of the server at `port` came from.
std::set<std::string> client_addresses(int port) {
  pqxx::connection connection(conninfo(port));
  pqxx::nontransaction query(connection);
  std::set<std::string> addresses;
  for (const auto& row : query.exec("SELECT DISTINCT host(client_addr) FROM pg_stat_activity "
                                    "WHERE backend_type = 'client backend' AND client_addr IS NOT NULL"))
    addresses.insert(row[0].as<std::string>());
  return addresses;
}

struct Recount {
  long acked = 0;
  long missing = 0;
};

/// The acknowledged writes of acks.jsonl (of `writer` only, when one is named) against the ids
/// the database itself holds.
Recount recount(const fs::path& run_dir, const std::set<std::string>& present, const std::string& writer = "") {
  Recount counted;
  for (const Ack& ack : read_acks(run_dir / "acks.jsonl")) {
    if (ack.outcome != WriteOutcome::ok || (!writer.empty() && ack.writer != writer)) continue;
    ++counted.acked;
    if (!present.count(ack.id)) ++counted.missing;
  }
  return counted;
}

// Beside the app, a second writer goes straight through the pool (`through: pool`: the implied
// INSERT into firedrill_writes, as for any postgres), so both paths of a pooled system are drilled.
TEST_F(TierDrill, PgBouncerRidesOutAPrimaryRestartLosingNothingAndTheTrafficWentThroughIt) {
  const std::string app_writer = "  - { name: orders, through: app, rate: 100/s, concurrency: 4 }\n";
  auto [outcome, report] = drill_kept(
      "pgbouncer-primary-restart.yaml", "db: { kind: postgres }",
      {{app_writer, app_writer + "  - { name: ledger, through: pool, rate: 50/s, concurrency: 2 }\n"},
       {"sql: \"SELECT count(*) FROM orders\"",
        "sql: \"SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM firedrill_writes)\""}});
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);

  nlohmann::json pool;
  for (const auto& service : report["environment"]["services"])
    if (service["name"] == "pool") pool = service;
  ASSERT_TRUE(pool.is_object()) << report["environment"].dump(2);
  EXPECT_EQ(pool["kind"], "pgbouncer");
  EXPECT_EQ(pool["pgbouncer"]["backend"], "db");
  EXPECT_EQ(pool["pgbouncer"]["pool_mode"], "transaction");
  EXPECT_EQ(pool["pgbouncer"]["server_login_retry_seconds"], 0.5);

  // The restarted database itself, against acks.jsonl: nothing acknowledged is missing, and the
  // report counted the same.
  const int db_port = testing::published_port(report, "db");
  ASSERT_NE(db_port, 0);
  const auto counted =
      recount(run_dir_, testing::order_ids_on_primary(db_port, database_password, "the restarted db"), "orders");
  const auto ledger = recount(
      run_dir_,
      testing::order_ids_on_primary(db_port, database_password, "the restarted db",
                                    "SELECT id FROM firedrill_writes WHERE writer = 'ledger'"),
      "ledger");
  const auto& measured = report["measured"];
  EXPECT_GT(counted.acked, 300);
  EXPECT_GT(ledger.acked, 150) << "the writer straight through the pool wrote little";
  EXPECT_EQ(measured["acked_writes"].get<long>(), counted.acked + ledger.acked);
  EXPECT_EQ(counted.missing, 0);
  EXPECT_EQ(ledger.missing, 0);
  EXPECT_EQ(measured["lost_acked_writes"], 0);
  EXPECT_GT(measured["failed_writes"].get<long>(), 0) << "the restart went unnoticed: was the database killed?";

  // The restart is felt through the pool for as long as Postgres is away (2 s until its container
  // is started again, then its crash recovery), and the pool gives it back within its login retry
  // (0.5 s) and a login: a SCRAM login to the backend took up to 3 s with the CPUs contended, and
  // PgBouncer abandons one whose client gave up meanwhile (2.5 s after the database at a load of 9).
  const double rto = measured["rto_seconds"].get<double>();
  const double pool_rto = report["components"]["pool"]["rto"]["measured_seconds"].get<double>();
  const double db_rto = report["components"]["db"]["rto"]["measured_seconds"].get<double>();
  EXPECT_GE(pool_rto, 2.0);
  EXPECT_LE(pool_rto, db_rto + 0.5 + 4.0) << report["components"].dump(2);
  EXPECT_LE(rto, 30.0);
  RecordProperty("rto_seconds", std::to_string(rto));
  RecordProperty("pool_rto_seconds", std::to_string(pool_rto));
  RecordProperty("db_rto_seconds", std::to_string(db_rto));
  RecordProperty("acked_writes", std::to_string(counted.acked));
  RecordProperty("ledger_acked_writes", std::to_string(ledger.acked));

  // PgBouncer's own account: every acknowledged order was a transaction through it.
  const int pool_port = testing::published_port(report, "pool");
  ASSERT_NE(pool_port, 0);
  long transactions = -1;
  for (const auto& row : admin_console(pool_port, "SHOW STATS"))
    if (row.at("database") == "postgres") transactions = std::stol(row.at("total_xact_count"));
  EXPECT_GE(transactions, counted.acked + ledger.acked) << "fewer transactions through PgBouncer than writes acknowledged";
  bool pooled = false;
  for (const auto& row : admin_console(pool_port, "SHOW POOLS"))
    if (row.at("database") == "postgres" && row.at("pool_mode") == "transaction") pooled = true;
  EXPECT_TRUE(pooled) << "no transaction pool for the database";
  RecordProperty("pgbouncer_transactions", std::to_string(transactions));

  // Postgres' account: the app's connections arrive from the pool's address, never the app's.
  const std::string pool_address = address_of("pool"), app_address = address_of("app");
  ASSERT_FALSE(pool_address.empty());
  ASSERT_FALSE(app_address.empty());
  const auto clients = client_addresses(db_port);
  EXPECT_TRUE(clients.count(pool_address)) << "no connection from the pool";
  EXPECT_FALSE(clients.count(app_address)) << "the app reached Postgres past the pool";
}

TEST_F(TierDrill, HAProxyMovesTheAppToTheNewPatroniLeaderLosingNothing) {
  auto [outcome, report] =
      drill_kept("patroni-haproxy-leader-loss.yaml", "db: { kind: postgres, ha: patroni, members: 3, sync: true }");
  ASSERT_TRUE(report.is_object()) << outcome.output;
  EXPECT_EQ(outcome.exit_code, 0) << outcome.output << report.dump(2);
  EXPECT_EQ(report["verdict"], "pass") << report["reasons"].dump(2);

  nlohmann::json balancer, cluster;
  std::map<std::string, std::string> endpoints;
  for (const auto& service : report["environment"]["services"]) {
    if (service["name"] == "lb") balancer = service.value("haproxy", nlohmann::json());
    if (service["name"] == "db") cluster = service.value("patroni", nlohmann::json());
    endpoints[service["name"]] = service.value("endpoint", "");
  }
  ASSERT_TRUE(balancer.is_object()) << report["environment"].dump(2);
  EXPECT_EQ(balancer["members"], nlohmann::json({"db-1", "db-2", "db-3"}));
  EXPECT_EQ(balancer["check"], "GET /primary on port 8008 expects 200");

  // The kill aimed at the cluster hit the member leading then.
  std::string killed;
  for (const Event& event : read_events(run_dir_ / "events.jsonl"))
    if (event.kind == event_kind::fault_injected) killed = event.details.value("target", "");
  ASSERT_TRUE(killed == "db-1" || killed == "db-2" || killed == "db-3") << killed;

  // Asked independently: exactly one surviving member leads, and it holds every acknowledged order.
  std::string leader;
  std::set<std::string> present;
  for (const std::string member : {"db-1", "db-2", "db-3"}) {
    if (member == killed) continue;
    const int port = published(member, 5432);
    ASSERT_NE(port, 0) << member;
    pqxx::connection connection(conninfo(port));
    pqxx::nontransaction query(connection);
    if (query.exec1("SELECT pg_is_in_recovery()")[0].as<bool>()) continue;
    EXPECT_TRUE(leader.empty()) << "two leaders: " << leader << " and " << member;
    leader = member;
    present = testing::order_ids_on_primary(port, database_password, "the new leader");
  }
  ASSERT_FALSE(leader.empty()) << "no surviving member leads";
  const auto counted = recount(run_dir_, present);
  const auto& measured = report["measured"];
  EXPECT_GT(counted.acked, 300);
  EXPECT_EQ(measured["acked_writes"].get<long>(), counted.acked);
  EXPECT_EQ(counted.missing, 0);
  EXPECT_EQ(measured["lost_acked_writes"], 0);

  // Through HAProxy the app waits for Patroni's failover, then at most a check interval (1 s,
  // `rise: 1`) and a reconnect; the cluster's own RTO is bounded as in the Patroni drill.
  const double window = cluster["expected_failover_seconds"].get<double>();
  const double db_rto = report["components"]["db"]["rto"]["measured_seconds"].get<double>();
  const double lb_rto = report["components"]["lb"]["rto"]["measured_seconds"].get<double>();
  const double rto = measured["rto_seconds"].get<double>();
  EXPECT_LE(db_rto, window + 2.0) << report["components"].dump(2);
  EXPECT_GT(lb_rto, cluster["ttl_seconds"].get<double>() - cluster["loop_wait_seconds"].get<double>() - 2.0);
  EXPECT_LE(lb_rto, db_rto + 1.0 + 3.0) << report["components"].dump(2);
  EXPECT_LE(rto, 25.0);
  RecordProperty("rto_seconds", std::to_string(rto));
  RecordProperty("lb_rto_seconds", std::to_string(lb_rto));
  RecordProperty("db_rto_seconds", std::to_string(db_rto));
  RecordProperty("acked_writes", std::to_string(counted.acked));

  // HAProxy's statistics: the killed member served sessions and is down, the new leader took
  // sessions after it and is up, the third member never took any (its /primary answered 503).
  const int stats = published("lb", 7000);
  ASSERT_NE(stats, 0);
  const auto csv = run_command({"curl", "-s", "--max-time", "10", "http://127.0.0.1:" + std::to_string(stats) + "/;csv"}, 20s);
  auto servers = haproxy_servers_in_stats(csv.output, "primary");
  ASSERT_EQ(servers.size(), 3u) << csv.output;
  EXPECT_TRUE(servers[killed].status.starts_with("DOWN")) << csv.output;
  EXPECT_GT(servers[killed].sessions, 0) << "the old leader took no session through HAProxy";
  EXPECT_EQ(servers[leader].status, "UP") << csv.output;
  EXPECT_EQ(servers[leader].check_status, "L7OK") << csv.output;
  EXPECT_GT(servers[leader].sessions, 0) << "the new leader took no session through HAProxy";
  for (const auto& [member, state] : servers) {
    if (member == killed || member == leader) continue;
    EXPECT_EQ(state.sessions, 0) << member << " took sessions as a replica";
    EXPECT_EQ(state.check_status, "L7STS") << member << " did not answer GET /primary with a status of its own";
  }

  // HAProxy's log: the old leader marked down, the new one up.
  const std::string log = run_command({"docker", "logs", container("lb")}, 20s).output;
  EXPECT_NE(log.find("Server primary/" + killed + " is DOWN"), std::string::npos) << log;
  EXPECT_NE(log.find("Server primary/" + leader + " is UP"), std::string::npos) << log;

  // The new leader's account: the app's connections arrive from HAProxy's address.
  const auto clients = client_addresses(published(leader, 5432));
  EXPECT_TRUE(clients.count(address_of("lb"))) << "no connection from HAProxy";
  EXPECT_FALSE(clients.count(address_of("app"))) << "the app reached the leader past HAProxy";
}

}  // namespace
}  // namespace firedrill
