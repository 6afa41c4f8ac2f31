#include "harness/services/haproxy.hpp"

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

std::string env_of(const ContainerSpec& container, const std::string& key) {
  for (const auto& entry : container.env)
    if (entry.starts_with(key + "=")) return entry.substr(key.size() + 1);
  return "";
}

/// ${db-N.host} as the Docker runtime's containers see it (the member's name), ${db-N.port} 5432.
std::string as_in_containers(const std::string& text) {
  std::string resolved;
  std::size_t position = 0;
  for (auto open = text.find("${"); open != std::string::npos; open = text.find("${", position)) {
    const auto close = text.find('}', open);
    const std::string reference = text.substr(open + 2, close - open - 2);
    const auto dot = reference.find('.');
    resolved += text.substr(position, open - position);
    resolved += reference.substr(dot + 1) == "port" ? "5432" : reference.substr(0, dot);
    position = close + 1;
  }
  return resolved + text.substr(position);
}

const std::string cluster = "  db: { kind: postgres, ha: patroni, members: 3, sync: true }\n";

TEST(HAProxyScenario, TheBalancerNamesEveryMemberOfTheClusterAndTakesItsLogin) {
  const Scenario scenario = load(cluster + "  lb: { kind: haproxy, backend: db }\n");
  const ServiceSpec& lb = *scenario.service("lb");
  EXPECT_EQ(haproxy_members(lb), (std::vector<std::string>{"db-1", "db-2", "db-3"}));
  // The references make the engine start HAProxy once the members run.
  EXPECT_EQ(lb.env.at("FIREDRILL_HAPROXY_MEMBERS"),
            "db-1=${db-1.host}:${db-1.port},db-2=${db-2.host}:${db-2.port},db-3=${db-3.host}:${db-3.port}");
  EXPECT_EQ(backend_login(lb).password, scenario.service("db")->env.at("POSTGRES_PASSWORD"));
  EXPECT_EQ(backend_login(lb).password, scenario.service("db-2")->env.at("PATRONI_SUPERUSER_PASSWORD"));
  EXPECT_EQ(lb.check_interval, "3s") << "Patroni's documentation's inter";
  const Scenario run = with_fresh_secrets(scenario);
  EXPECT_EQ(backend_login(*run.service("lb")).password, run.service("db")->env.at("POSTGRES_PASSWORD"));
  EXPECT_NE(backend_login(*run.service("lb")).password, backend_login(lb).password);
}

TEST(HAProxyScenario, MisusesAreNamedWhereTheyAre) {
  EXPECT_NE(load_error("  lb: { kind: haproxy }\n").find("x.yaml:4:3: service 'lb' of kind haproxy needs a 'backend'"),
            std::string::npos);
  EXPECT_NE(load_error("  db: { kind: postgres }\n  lb: { kind: haproxy, backend: db }\n")
                .find("x.yaml:5:33: 'backend' of 'lb' must be a Patroni cluster (a postgres with `ha: patroni`)"),
            std::string::npos);
  EXPECT_NE(load_error(cluster + "  lb: { kind: haproxy, backend: db-1 }\n").find("names no declared service: 'db-1'"),
            std::string::npos);
  EXPECT_NE(load_error(cluster + "  lb: { kind: haproxy, backend: db, check_interval: 10ms }\n")
                .find("'check_interval' must be from 100ms to 1m, got '10ms'"),
            std::string::npos);
  EXPECT_NE(load_error(cluster + "  lb: { kind: haproxy, backend: db, fall: 0 }\n").find("'fall' must be from 1 to 100"),
            std::string::npos);
  EXPECT_NE(load_error(cluster + "  lb: { kind: haproxy, backend: db, pool_mode: session }\n")
                .find("'pool_mode' applies only to pgbouncer services"),
            std::string::npos);
  LoadOptions process{Vocabulary{}, {}};
  process.runtime = LoadOptions::RuntimeCapabilities{"process", {}};
  EXPECT_NE(load_error("  lb: { kind: haproxy, backend: db }\n", process)
                .find("service 'lb' of kind haproxy needs the docker runtime (HAProxy runs in a container only); the "
                      "process runtime cannot run it"),
            std::string::npos);
}

TEST(HAProxyService, TheConfigurationRoutesToTheMemberWhoseRestApiAnswersPrimaryAsPatronisDocumentationShows) {
  const Scenario scenario =
      load(cluster + "  lb: { kind: haproxy, backend: db, check_interval: 1.5s, fall: 2, rise: 1 }\n");
  const std::string configuration = haproxy_configuration(*scenario.service("lb"));
  for (const std::string line :
       {"    bind *:5000\n", "    option httpchk GET /primary\n", "    http-check expect status 200\n",
        "    default-server inter 1500ms fall 2 rise 1 on-marked-down shutdown-sessions\n",
        "    server db-1 ${db-1.host}:${db-1.port} maxconn 100 check port 8008\n",
        "    server db-3 ${db-3.host}:${db-3.port} maxconn 100 check port 8008\n", "    mode tcp\n",
        "    bind *:7000\n", "    stats enable\n", "    log stdout format raw local0\n", "    user haproxy\n"})
    EXPECT_NE(configuration.find(line), std::string::npos) << line << "in\n" << configuration;
  EXPECT_EQ(configuration.find(backend_login(*scenario.service("lb")).password), std::string::npos);
}

TEST(HAProxyService, TheContainerPublishesItsStatisticsAndCarriesNoPassword) {
  const Scenario scenario = load(cluster + "  lb: { kind: haproxy, backend: db }\n");
  const auto service = make_service(*scenario.service("lb"));
  const std::string password = backend_login(service->spec()).password;
  const ContainerSpec container = service->container_spec(as_in_containers);
  EXPECT_EQ(container.image, "firedrill/base:bookworm");
  EXPECT_EQ(container.ports, (std::vector<int>{5000, 7000}));
  for (const auto& entry : container.env) EXPECT_EQ(entry.find(password), std::string::npos) << entry;
  for (const auto& argument : container.command) EXPECT_EQ(argument.find(password), std::string::npos) << argument;
  EXPECT_NE(env_of(container, "FIREDRILL_HAPROXY_CONFIG").find("    server db-2 db-2:5432 maxconn 100 check port 8008\n"),
            std::string::npos)
      << env_of(container, "FIREDRILL_HAPROXY_CONFIG");
  ASSERT_EQ(container.command.size(), 3u);
  EXPECT_NE(container.command[2].find("exec haproxy -db -f /etc/firedrill/haproxy.cfg"), std::string::npos);
  EXPECT_EQ(service->secrets(), std::vector<std::string>{password});
}

TEST(HAProxyService, TheStatisticsPageIsReadByItsHeadersNames) {
  const std::string csv =
      "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,"
      "act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,"
      "check_status,check_code,\n"
      "primary,FRONTEND,,,0,2,1000,57,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,3,,,\n"
      "primary,db-1,0,0,0,1,100,41,0,0,,0,,0,0,0,0,DOWN,1,1,0,3,1,12,12,,1,2,1,,41,,2,0,,2,L4CON,,\n"
      "primary,db-2,0,0,0,1,100,16,0,0,,0,,0,0,0,0,UP,1,1,0,1,0,9,0,,1,2,2,,16,,2,0,,2,* L7OK,200,\n"
      "primary,db-3,0,0,0,0,100,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,30,30,,1,2,3,,0,,2,0,,0,L7STS,503,\n"
      "primary,BACKEND,0,0,0,2,100,57,0,0,0,0,,0,0,0,0,UP,1,1,0,,1,9,12,,1,2,0,,57,,1,0,,3,,,\n"
      "stats,FRONTEND,,,1,1,1000,3,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,1,0,,,,0,1,0,1,,,\n";
  const auto servers = haproxy_servers_in_stats(csv, "primary");
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers.at("db-1").status, "DOWN");
  EXPECT_EQ(servers.at("db-1").check_status, "L4CON");
  EXPECT_EQ(servers.at("db-1").sessions, 41);
  EXPECT_EQ(servers.at("db-2").status, "UP");
  EXPECT_EQ(servers.at("db-2").check_status, "L7OK") << "the mark of a check under way is not part of the result";
  EXPECT_TRUE(servers.at("db-2").check_in_progress);
  EXPECT_FALSE(servers.at("db-3").check_in_progress);
  EXPECT_EQ(servers.at("db-2").sessions, 16);
  EXPECT_EQ(servers.at("db-3").check_status, "L7STS");
  EXPECT_TRUE(haproxy_servers_in_stats(csv, "secondary").empty());
  EXPECT_TRUE(haproxy_servers_in_stats("<html>not a csv</html>", "primary").empty());
}

TEST(HAProxyService, ClientsReachTheLeaderThroughItAndAcceptOnlyAServerThatTakesWrites) {
  const Scenario scenario = load(
      "  db: { kind: postgres, ha: patroni, env: { POSTGRES_PASSWORD: secret, POSTGRES_USER: shop } }\n"
      "  lb: { kind: haproxy, backend: db }\n");
  const auto service = make_service(*scenario.service("lb"));
  EXPECT_EQ(service->url_in_network(),
            "postgresql://shop:secret@lb:5000/shop?target_session_attrs=read-write&connect_timeout=2");
  ContainerInfo info;
  info.host_ports = {{5000, 42000}, {7000, 42001}};
  EXPECT_EQ(service->harness_conninfo(info), "host=127.0.0.1 port=42000 user=shop password=secret dbname=shop "
                                             "connect_timeout=2 target_session_attrs=read-write");
  EXPECT_EQ(service->readiness_probe(info).type, "sql");
  nlohmann::json entry;
  service->add_details(entry);
  EXPECT_EQ(entry["haproxy"]["members"], (nlohmann::json{"db-1", "db-2", "db-3"}));
  EXPECT_EQ(entry["haproxy"]["check"], "GET /primary on port 8008 expects 200");
  EXPECT_EQ(entry["haproxy"]["fall"], 3);
  EXPECT_EQ(entry["haproxy"]["rise"], 2);
}

}  // namespace
}  // namespace firedrill
